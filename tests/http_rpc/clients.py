"""The real clients of the suite: where they are installed (`make clients`), and the schema they
need (a FileDescriptorSet of the test project's proto plus `test.Web`, which has no .proto)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
BUF = NODE_DIR / "node_modules" / ".bin" / "buf"


def node() -> str:
    """The node binary, with the client packages installed; else the test is skipped."""
    binary = shutil.which("node")
    if binary is None or not (NODE_DIR / "node_modules" / "@connectrpc" / "connect-node").is_dir():
        pytest.skip("the Node clients are not installed: run `make clients` (make test does)")
    return binary


def buf() -> str:
    if not BUF.exists():
        pytest.skip("buf is not installed: run `make clients` (make test does)")
    return str(BUF)


def write_schema(path: Path, services: dict[str, Any]) -> Path:
    """`path` (.binpb): testapp.proto's descriptor and one for `services` ({"pkg.Name": Service
    class}), whose actions take and return ProbeMessage."""
    from google.protobuf import descriptor_pb2
    from testapp.grpc import testapp_pb2

    files = descriptor_pb2.FileDescriptorSet()
    testapp = files.file.add()
    testapp_pb2.DESCRIPTOR.CopyToProto(testapp)
    for message in testapp.message_type:  # protoc fills json_name in; clients read it (protobuf-es does)
        for field in message.field:
            if not field.json_name:
                head, *rest = field.name.split("_")
                field.json_name = head + "".join(part.capitalize() for part in rest)
    for full_name, service_class in services.items():
        package, _, name = full_name.rpartition(".")
        proto = files.file.add(name=f"{full_name.replace('.', '/')}.proto", package=package, syntax="proto3",
                               dependency=[testapp.name])
        service = proto.service.add(name=name)
        for action, spec in service_class.get_grpc_actions().items():
            service.method.add(name=action, input_type=".testproject.testapp.ProbeMessage",
                               output_type=".testproject.testapp.ProbeMessage",
                               client_streaming=spec.request_stream, server_streaming=spec.response_stream)
    path.write_bytes(files.SerializeToString())
    return path

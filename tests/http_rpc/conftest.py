"""In-process servers for the HTTP RPC tests: a real HybridServer (`LiveServer`) per backend with
the test project's services and `test.Web`, an HTTP port, CORS for one origin and a 64 KiB
receive limit; helpers for the Connect and gRPC-Web framing."""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from hybrid_server.testing import LiveServer
from tests.http_rpc import services

PROBE = "/testproject.testapp.ProbeServiceController"
WEB = "/test.Web"
ORIGIN = "http://allowed.example"
MAX_RECEIVE = 64 * 1024
_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def web_hook(server: Any) -> None:
    """ROOT_HANDLERS_HOOK: the test project's services, then `test.Web` (no generated code)."""
    from testapp.grpc import testapp_pb2
    from testproject.handlers import grpc_handlers

    grpc_handlers(server)
    message = testapp_pb2.ProbeMessage
    servicer = services.WebService.as_servicer()
    handlers = {}
    for name, spec in services.WebService.get_grpc_actions().items():
        make = _KINDS[(spec.request_stream, spec.response_stream)]
        handlers[name] = make(getattr(servicer, name), request_deserializer=message.FromString,
                              response_serializer=message.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Web", handlers),))


def server_options(**changes: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "http_address": "127.0.0.1:0", "handlers_hook": web_hook, "cors_allowed_origins": [ORIGIN],
        "server_options": [("grpc.max_receive_message_length", MAX_RECEIVE)], "grace": 5.0,
    }
    options.update(changes)
    return options


@pytest.fixture(scope="package", params=["aio", "threads"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="package")
def live(pb: Any, backend: str) -> Iterator[LiveServer]:
    with LiveServer(backend=backend, **server_options()) as server:
        yield server


@pytest.fixture(scope="package")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.http_url, timeout=20) as client:
        yield client


@pytest.fixture
def msg(pb: Any) -> Any:
    return pb[0].ProbeMessage


# --------------------------------------------------------------------------- framing


def envelope(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def envelopes(body: bytes) -> list[tuple[int, bytes]]:
    frames, offset = [], 0
    while offset < len(body):
        flags, size = struct.unpack_from(">BI", body, offset)
        frames.append((flags, body[offset + 5 : offset + 5 + size]))
        offset += 5 + size
    return frames


def connect_stream(body: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A Connect streaming JSON response: its messages and its end-of-stream message."""
    frames = envelopes(body)
    assert frames and frames[-1][0] & 0x02, frames
    return [json.loads(payload) for flags, payload in frames[:-1]], json.loads(frames[-1][1])


def grpc_web(body: bytes, message_class: Any) -> tuple[list[Any], dict[str, str]]:
    """A gRPC-Web response: its messages and its trailers."""
    frames = envelopes(body)
    assert frames and frames[-1][0] & 0x80, frames
    trailers = {}
    for line in frames[-1][1].decode().split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            trailers[name.strip()] = value.strip()
    return [message_class.FromString(payload) for flags, payload in frames[:-1]], trailers

"""Proto generation: services recorded by the handlers hook -> .proto text -> Python code."""
from django_socio_grpc.protobuf.compiler import ProtocError, compile_protos
from django_socio_grpc.protobuf.files import ProtoTarget, plan_targets, write_targets
from django_socio_grpc.protobuf.generation import (
    build_proto_file,
    default_project_name,
    generate_proto_files,
    run_handlers_hook,
)
from django_socio_grpc.protobuf.model import ProtoField, ProtoFile, ProtoMessage, ProtoRpc, ProtoService

__all__ = [
    "ProtoField",
    "ProtoFile",
    "ProtoMessage",
    "ProtoRpc",
    "ProtoService",
    "ProtoTarget",
    "ProtocError",
    "build_proto_file",
    "compile_protos",
    "default_project_name",
    "generate_proto_files",
    "plan_targets",
    "run_handlers_hook",
    "write_targets",
]

"""Undecodable requests: INVALID_ARGUMENT without internals, for every service a server hosts.

grpc.aio answers bytes its deserializer cannot parse with UNKNOWN and the parser's text; the
thread-pool server with INTERNAL. A guarded deserializer returns an `UndecodableRequest`
instead of raising, and the handler that receives it ends the RPC with INVALID_ARGUMENT.
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import grpc

from hybrid_server.containment import EscapedExit

GUARDED_ATTRIBUTE = "_hybrid_guarded"


class UndecodableRequest:
    """What a guarded deserializer returns for bytes that are not the expected message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    @property
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INVALID_ARGUMENT

    @property
    def details(self) -> str:
        return f"request is not a valid {self.message}"


def message_name(deserializer: Callable[[bytes], Any]) -> str:
    """`pkg.Message` for a generated `Message.FromString`, else "message"."""
    owner = getattr(deserializer, "__self__", None)
    return getattr(getattr(owner, "DESCRIPTOR", None), "full_name", None) or "message"


def guard_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None or getattr(deserializer, GUARDED_ATTRIBUTE, False):
        return deserializer
    name = message_name(deserializer)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except BaseException:  # a SystemExit too: what runs in grpc.aio's RPC task is contained here
            return UndecodableRequest(name)

    setattr(deserialize, GUARDED_ATTRIBUTE, True)
    deserialize.__wrapped__ = deserializer  # type: ignore[attr-defined]  # the message class for other codecs
    return deserialize


# Serializers that run no Python code of anyone's (protobuf's C `SerializeToString`): left as they are.
_NATIVE = (types.BuiltinFunctionType, types.BuiltinMethodType, types.MethodDescriptorType, types.WrapperDescriptorType)


def guard_serializer(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    """A response serializer written in Python raises `EscapedExit` instead of a `SystemExit` or
    `KeyboardInterrupt` (grpc then fails that call like for any exception; see
    `hybrid_server.containment`). protobuf's own are native code and stay as they are."""
    if serializer is None or isinstance(serializer, _NATIVE) or getattr(serializer, GUARDED_ATTRIBUTE, False):
        return serializer

    def serialize(message: Any) -> bytes:
        try:
            return serializer(message)
        except (SystemExit, KeyboardInterrupt) as exc:
            raise EscapedExit(exc) from exc

    setattr(serialize, GUARDED_ATTRIBUTE, True)
    serialize.__wrapped__ = serializer  # type: ignore[attr-defined]
    return serialize

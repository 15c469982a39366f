"""Undecodable requests: INVALID_ARGUMENT without internals, for every service a server hosts.

grpc.aio answers bytes its deserializer cannot parse with UNKNOWN and the parser's text; the
thread-pool server with INTERNAL. A guarded deserializer returns an `UndecodableRequest`
instead of raising, and the handler that receives it ends the RPC with INVALID_ARGUMENT.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

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
        except Exception:
            return UndecodableRequest(name)

    setattr(deserialize, GUARDED_ATTRIBUTE, True)
    deserialize.__wrapped__ = deserializer  # type: ignore[attr-defined]  # the message class for other codecs
    return deserialize

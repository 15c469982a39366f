"""`Route`: one recorded gRPC method as the HTTP transports call it, built once at start-up.

The app's servicers are bound again through their `rebind` to an aio runtime whose executor is
the gRPC side's pool: `def` actions run in the same `--max-workers` threads whichever port the
call came through, `async def` actions on the serving loop. Methods the app did not build
(health, reflection, a hand-written servicer) are served as they were recorded when their
behaviour is a coroutine or an async generator (the aio backend); otherwise, and for client
and bidirectional streams, the route answers `unimplemented` and says why.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hybrid_server.grpc.handle import MethodRecord
from hybrid_server.grpc.limits import EXEMPT_SERVICES, ConcurrencyLimit
from hybrid_server.grpc.runtime import AIO, Runtime
from hybrid_server.http.rpc.codec import Codec, json_codec, proto_codec, request_class

UNARY, SERVER_STREAM, CLIENT_STREAM, BIDI_STREAM = "unary", "server_stream", "client_stream", "bidi_stream"
_KIND_ATTRIBUTES = {
    UNARY: "unary_unary", SERVER_STREAM: "unary_stream", CLIENT_STREAM: "stream_unary", BIDI_STREAM: "stream_stream",
}
NO_STREAMS_OVER_HTTP1 = (
    "{kind} methods are not served over HTTP: a browser or HTTP/1.1 client cannot stream a request "
    "while it reads the response; call {path} on the gRPC port"
)
DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024  # grpc's default grpc.max_receive_message_length


@dataclass(frozen=True)
class Route:
    path: str
    service: str
    method: str
    kind: str
    handler: Callable[..., Any] | None  # aio style: (request, context) -> awaitable | async iterator
    codecs: dict[str, Codec]  # "proto", and "json" when the messages are known
    unavailable: str | None = None  # why `handler` is None

    @property
    def streams_response(self) -> bool:
        return self.kind == SERVER_STREAM


def _kind(handler: Any) -> str:
    if handler.request_streaming:
        return BIDI_STREAM if handler.response_streaming else CLIENT_STREAM
    return SERVER_STREAM if handler.response_streaming else UNARY


def _codecs(record: MethodRecord) -> dict[str, Codec]:
    handler = record.handler
    codecs = {"proto": proto_codec(handler.request_deserializer, handler.response_serializer)}
    message_class = request_class(record.service, record.method, handler.request_deserializer)
    if message_class is not None:
        codecs["json"] = json_codec(message_class)
    return codecs


def build_route(record: MethodRecord, runtime: Runtime, limit: ConcurrencyLimit | None) -> Route:
    handler = record.handler
    kind = _kind(handler)
    codecs = _codecs(record)
    if kind in (CLIENT_STREAM, BIDI_STREAM):
        label = "client-streaming" if kind == CLIENT_STREAM else "bidirectional-streaming"
        reason = NO_STREAMS_OVER_HTTP1.format(kind=label.capitalize(), path=record.path)
        return Route(record.path, record.service, record.method, kind, None, codecs, reason)
    if record.rebind is not None:
        behaviour = record.rebind(runtime)
        if limit is not None and record.service not in EXEMPT_SERVICES:
            behaviour = limit.wrap(behaviour)
    else:
        behaviour = getattr(handler, _KIND_ATTRIBUTES[kind])  # guarded and limited as recorded
        wanted = inspect.isasyncgenfunction if kind == SERVER_STREAM else inspect.iscoroutinefunction
        if not wanted(behaviour):
            reason = (f"{record.path} is served by plain functions of grpc's thread-pool server; "
                      "over HTTP only methods built by the app, or asyncio ones, can be called")
            return Route(record.path, record.service, record.method, kind, None, codecs, reason)
    return Route(record.path, record.service, record.method, kind, behaviour, codecs)


def build_routes(
    records: Iterable[MethodRecord], executor: Any, limit: ConcurrencyLimit | None, log_ok: bool = False
) -> dict[str, Route]:
    """Every recorded method by its path; one aio runtime for all of them."""
    runtime = Runtime(AIO, executor=executor, log_ok=log_ok)
    return {record.path: build_route(record, runtime, limit) for record in records}


def max_receive_message_length(server_options: Iterable[tuple[str, Any]]) -> int | None:
    """grpc.max_receive_message_length from SERVER_OPTIONS (None: unlimited, as -1 means there)."""
    value = DEFAULT_MAX_RECEIVE
    for name, option in server_options:
        if name == "grpc.max_receive_message_length":
            value = int(option)
    return None if value < 0 else value

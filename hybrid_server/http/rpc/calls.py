"""What every HTTP RPC shares: the request's headers and body, its metadata, and running the
method under the call's deadline and the client's presence.

A call runs in the request's own task: the deadline (`connect-timeout-ms` / `grpc-timeout`)
cancels it, and so does a watch on the ASGI `receive` when the client disconnects, as grpc.aio
cancels an RPC whose client went away. A
`def` action keeps running in its worker thread after a cancellation (as on the gRPC port);
its context then reports `cancelled()`.
"""
from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from hybrid_server.http.rpc.codec import too_large
from hybrid_server.http.rpc.context import HttpRpcContext
from hybrid_server.http.rpc.status import ProtocolError, StatusCode

logger = logging.getLogger("hybrid_server.http")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

# Request headers that belong to HTTP or to the RPC protocols, not to the call's metadata.
TRANSPORT_HEADERS = frozenset({
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
    "content-type", "content-length", "content-encoding", "accept-encoding",
    "connect-protocol-version", "connect-timeout-ms", "connect-content-encoding", "connect-accept-encoding",
    "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "x-grpc-web",
})


@dataclass(frozen=True)
class Status:
    code: StatusCode
    details: str = ""
    trailing: tuple[tuple[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is StatusCode.OK


OK = Status(StatusCode.OK)


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    """The request headers by lower-case name (repeated ones joined with ", ")."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def metadata_of(scope: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Invocation metadata as grpc gives it: lower-case keys, `-bin` values decoded to bytes."""
    metadata = []
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if name in TRANSPORT_HEADERS or name.startswith(":"):
            continue
        if name.endswith("-bin"):
            try:
                value: Any = b"".join(base64.b64decode(part + "=" * (-len(part) % 4)) for part in
                                      raw_value.decode("latin-1").replace(" ", "").split(",") if part)
            except ValueError:
                raise ProtocolError(StatusCode.INVALID_ARGUMENT, f"metadata {name!r} is not valid base64") from None
        else:
            value = raw_value.decode("latin-1")
        metadata.append((name, value))
    return tuple(metadata)


def peer_of(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    if not client:
        return "unknown"
    host, port = client[0], client[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def metadata_headers(metadata: Any, prefix: str = "") -> list[tuple[bytes, bytes]]:
    """Metadata as response headers: `-bin` values base64 (unpadded), others as text."""
    headers = []
    for key, value in metadata or ():
        name = key.lower()
        if name.endswith("-bin"):
            data = value if isinstance(value, bytes) else str(value).encode()
            text = base64.b64encode(data).rstrip(b"=")
        else:
            text = value.encode() if isinstance(value, str) else bytes(value)
        headers.append(((prefix + name).encode("latin-1"), text))
    return headers


async def read_body(receive: Receive, limit: int | None) -> bytes:
    """The whole request body; more than `limit` bytes is RESOURCE_EXHAUSTED (not read further)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if limit is not None and size > limit:
                raise too_large(limit, None)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ClientGone(Exception):
    """The client disconnected: nothing is sent."""


# --------------------------------------------------------------------------- running a method


def _status_after(ctx: HttpRpcContext, exc: BaseException | None, route_path: str) -> Status:
    if exc is None:
        code = ctx.code()
        if code is None or code is StatusCode.OK:
            return Status(StatusCode.OK, "", tuple(ctx.trailing_metadata()))
        return Status(code, ctx.details() or "", tuple(ctx.trailing_metadata()))
    if isinstance(exc, grpc.aio.AbortError):
        return Status(ctx.code() or StatusCode.UNKNOWN, ctx.details() or "", tuple(ctx.trailing_metadata()))
    if isinstance(exc, ProtocolError):
        return Status(exc.code, exc.message, tuple(ctx.trailing_metadata()))
    from django.conf import settings

    logger.error("Exception in %s over HTTP", route_path, exc_info=exc)
    details = type(exc).__name__
    if settings.DEBUG and str(exc):
        details = f"{details}: {exc}"
    return Status(StatusCode.UNKNOWN, details, tuple(ctx.trailing_metadata()))


DEADLINE = Status(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
GONE = Status(StatusCode.CANCELLED, "the client went away")


class CallScope:
    """The deadline and the disconnect watch of one call; `with CallScope(...) as call:`.

    Plain asyncio, kept cheap for the common short call: the deadline is one timer that cancels
    the request's task, and the watch on `receive` starts only once the call has run for
    `WATCH_AFTER` (a disconnect is then seen at once: uvicorn remembers it).
    """

    __slots__ = ("_deadline", "_start_watch", "_task", "_timeout", "_watch", "ctx", "fired", "receive")

    WATCH_AFTER = 0.02

    def __init__(self, ctx: HttpRpcContext, receive: Receive, timeout: float | None) -> None:
        ctx.set_timeout(timeout)
        self.ctx = ctx
        self.receive = receive
        self._timeout = timeout
        self.fired: Status | None = None  # set when this scope cancelled the task: why
        self._task: asyncio.Task[Any] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._start_watch: asyncio.TimerHandle | None = None
        self._watch: asyncio.Task[None] | None = None

    def __enter__(self) -> CallScope:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self._timeout is not None:
            self._deadline = loop.call_later(self._timeout, self._cancel, DEADLINE)
        self._start_watch = loop.call_later(self.WATCH_AFTER, self._begin_watch)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        for handle in (self._deadline, self._start_watch):
            if handle is not None:
                handle.cancel()
        if self._watch is not None:
            self._watch.cancel()
        if self.fired is None:
            return False
        # Our own cancellation (delivered, possibly swallowed by the action): the call ends with `fired`.
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+: cancellations are counted
        if uncancel is not None:
            uncancel()
        return kind is not None and issubclass(kind, asyncio.CancelledError)

    def _cancel(self, why: Status) -> None:
        if self.fired is None and not self.ctx.done_flag and self._task is not None:
            self.fired = why
            self._task.cancel()

    def _begin_watch(self) -> None:
        # A bare Task, not the loop's factory: the serving loop's factory wraps coroutines
        # (containment), and a wrapper cancelled before it starts leaves this one unawaited.
        self._watch = asyncio.Task(self._watch_disconnect(), loop=asyncio.get_running_loop())

    async def _watch_disconnect(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if self.fired is None and not self.ctx.done_flag:
            self.ctx.cancelled_by_client = True
            self._cancel(GONE)

    def interrupted(self) -> Status | None:
        """After the block: why this scope cut it short (GONE: the client left), None if it did not."""
        return self.fired


async def call_unary(handler: Callable[..., Any], request: Any, ctx: HttpRpcContext, receive: Receive,
                     timeout: float | None) -> tuple[Any, Status] | None:
    """(response, status) of a unary method; None when the client went away."""
    response = None
    error: BaseException | None = None
    with CallScope(ctx, receive, timeout) as call:
        try:
            response = await handler(request, ctx)
        except Exception as exc:
            error = exc
    interrupted = call.interrupted()
    if interrupted is not None:
        return None if interrupted is GONE else (None, interrupted)
    return response, _status_after(ctx, error, ctx.method)


async def call_server_stream(
    handler: Callable[..., Any], request: Any, ctx: HttpRpcContext, receive: Receive, timeout: float | None,
    write: Callable[[Any], Awaitable[None]],
) -> Status | None:
    """Run a server stream, `write` each message; its final status (None: the client left)."""
    error: BaseException | None = None
    stream: AsyncIterator[Any] | None = None
    ctx._writer = write
    with CallScope(ctx, receive, timeout) as call:
        try:
            stream = handler(request, ctx)
            async for message in stream:
                await write(message)
        except Exception as exc:
            error = exc
    if stream is not None and hasattr(stream, "aclose"):
        try:
            await stream.aclose()
        except Exception:
            pass
    interrupted = call.interrupted()
    if interrupted is not None:
        return None if interrupted is GONE else interrupted
    return _status_after(ctx, error, ctx.method)

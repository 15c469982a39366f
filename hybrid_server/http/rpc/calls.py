"""What every HTTP RPC shares: the request's headers and body, its metadata, and running the
method under the call's deadline and the client's presence.

A call runs in the request's own task, inside one cancel scope: the deadline
(`connect-timeout-ms` / `grpc-timeout`) is the scope's, and a watch on the ASGI `receive`
cancels it when the client disconnects, as grpc.aio cancels an RPC whose client went away. A
`def` action keeps running in its worker thread after a cancellation (as on the gRPC port);
its context then reports `cancelled()`.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
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


class CallScope:
    """The deadline and the disconnect watch of one call; `with CallScope(...) as call:`."""

    __slots__ = ("_watch", "ctx", "receive", "scope")

    def __init__(self, ctx: HttpRpcContext, receive: Receive, timeout: float | None) -> None:
        ctx.set_timeout(timeout)
        self.ctx = ctx
        self.receive = receive
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        self.scope = anyio.CancelScope(deadline=deadline)
        self._watch: asyncio.Task[None] | None = None

    def __enter__(self) -> CallScope:
        self.scope.__enter__()
        # A bare Task, not the loop's factory: the serving loop's factory wraps coroutines
        # (containment), and a wrapper cancelled before it starts leaves this one unawaited.
        self._watch = asyncio.Task(self._watch_disconnect(), loop=asyncio.get_running_loop())
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        if self._watch is not None:
            self._watch.cancel()
        return bool(self.scope.__exit__(*exc_info))

    async def _watch_disconnect(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if not self.ctx.done_flag:
            self.ctx.cancelled_by_client = True
            self.scope.cancel()

    def interrupted(self) -> Status | None:
        """After the block: why it was cut short (None: it was not, or the client left)."""
        if not self.scope.cancelled_caught:
            return None
        return None if self.ctx.cancelled_by_client else DEADLINE


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
    if call.scope.cancelled_caught:
        return None if interrupted is None else (None, interrupted)
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
    if call.scope.cancelled_caught:
        return call.interrupted()
    return _status_after(ctx, error, ctx.method)

"""The error envelopes: the one place each flavour turns a failure into the RPC's status.

Async flavour (the aio backend, and any transport that calls aio-style handlers): a coroutine
for unary responses, an async generator for streams. Sync flavour (grpc's thread-pool
server): a function and a generator. The handler builders (`aio.py`, `threads.py`) only say
how a call starts; the envelope maps what escapes (`errors.abort_*`), logs it once, runs the
stream's end callbacks, and closes a worker thread's context when the RPC is over.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from django_socio_grpc.rpc.call import RpcCall, end_stream_async
from django_socio_grpc.rpc.contexts import SyncContext
from django_socio_grpc.rpc.errors import ABORT_ERROR, Aborted, abort_async, abort_sync, map_exception, passes

# --------------------------------------------------------------------------- async flavour


def async_unary(
    start: Callable[[Any, Any], Awaitable[Any]], where: str, threaded: bool
) -> Callable[[Any, Any], Awaitable[Any]]:
    """`start(request, context)` returns the awaitable response. `threaded`: the action runs
    in a worker thread, which gets a `SyncContext`, closed when the RPC is over."""

    async def handler(request: Any, context: Any) -> Any:
        ctx = SyncContext(context) if threaded else context
        try:
            return await start(request, ctx)
        except ABORT_ERROR:  # grpc.aio's own abort: the status is set already
            raise
        except BaseException as exc:
            if passes(exc):
                raise
            await abort_async(context, exc, where)
        finally:
            if threaded:
                ctx.closed = True

    return handler


def async_stream(
    make_call: Callable[[Any, Any], RpcCall | None],
    open_stream: Callable[[RpcCall | None, Any, Any], Awaitable[Any]],
    where: str,
    threaded: bool,
) -> Callable[[Any, Any], AsyncIterator[Any]]:
    """`make_call(request, context)` makes the call on the loop (None: the stream makes its own
    in a worker thread and ends it there); `open_stream(call, request, context)` returns
    (awaitably) the response stream, iterated here: its errors are mapped, the call's end
    callbacks receive the outcome before the status is sent."""

    async def handler(request: Any, context: Any) -> AsyncIterator[Any]:
        ctx = SyncContext(context) if threaded else context
        call = None
        error: BaseException | None = None
        try:
            call = make_call(request, ctx)
            async for item in await open_stream(call, request, ctx):
                yield item
        except ABORT_ERROR as exc:
            error = exc
            raise
        except BaseException as exc:
            if passes(exc):  # cancelled, or the client went away
                error = exc
                raise
            error = exc if isinstance(exc, Aborted) else map_exception(exc)
            if call is not None and call.stream_end:
                await end_stream_async(call, error)
            await abort_async(context, error, where)
        finally:
            if threaded:
                ctx.closed = True
            if call is not None and call.stream_end:
                await end_stream_async(call, error)

    return handler


# --------------------------------------------------------------------------- sync flavour


def sync_unary(start: Callable[[Any, Any], Any], where: str) -> Callable[[Any, Any], Any]:
    """`start(request, context)` returns the response."""

    def handler(request: Any, context: Any) -> Any:
        try:
            return start(request, context)
        except BaseException as exc:
            if passes(exc):
                raise
            abort_sync(context, exc, where)

    return handler


def sync_stream(open_stream: Callable[[Any, Any], Iterator[Any]], where: str) -> Callable[[Any, Any], Iterator[Any]]:
    """`open_stream(request, context)` returns the response stream, which maps its own errors
    and runs the call's end callbacks (`call.stream_sync`, or on the bridge loop)."""

    def handler(request: Any, context: Any) -> Iterator[Any]:
        try:
            yield from open_stream(request, context)
        except BaseException as exc:
            if passes(exc):  # grpc closed the stream
                raise
            abort_sync(context, exc, where)

    return handler

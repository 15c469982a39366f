"""Default GRPC_MIDDLEWARE: Django-style factories, `middleware(get_response)`.

A middleware receives an `RpcCall` (`.service`, `.request`, `.context`, `.action`) and
returns what the action returned; for a server-streaming action that is the iterator of
responses, which a middleware wraps to act after the last message, as Django middleware
does with streaming responses.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import time
from concurrent.futures import Executor, Future
from typing import Any, AsyncIterator, Callable, Iterator

import grpc
from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.core import signals
from django.db import close_old_connections
from django.utils.decorators import sync_and_async_middleware

from django_socio_grpc.errors import classify
from django_socio_grpc.settings import grpc_settings

logger = logging.getLogger("django_socio_grpc.request")


class _AccessLog:
    """One line per RPC on `django_socio_grpc.request`: method, status, duration, peer.

    Failed RPCs are always logged (WARNING, or ERROR for UNKNOWN); successful ones at INFO
    when LOG_OK_RESPONSE is set. Settings are read when the servicer is built, not per call.
    """

    __slots__ = ("log_ok", "ignored")

    def __init__(self) -> None:
        self.log_ok = bool(grpc_settings.LOG_OK_RESPONSE)
        self.ignored = frozenset(grpc_settings.IGNORE_LOG_FOR_ACTION)

    def __call__(self, call: Any, started: float, exc: BaseException | None) -> None:
        if exc is None and not self.log_ok:
            return
        if self.ignored and (call.action in self.ignored or call.full_action in self.ignored):
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        if exc is None:
            level, code, note = logging.INFO, "OK", ""
        elif isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
            level, code, note = logging.INFO, "CANCELLED", ""  # the client went away or grace ran out
        else:
            status = _status_of(exc, call.context)
            level = logging.ERROR if status in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL) else logging.WARNING
            code, note = status.name, f" ({type(exc).__name__})"
        if logger.isEnabledFor(level):
            logger.log(level, "gRPC %s %s %.1fms peer=%s%s", call.full_action, code, elapsed_ms, _peer(call.context), note)


def _status_of(exc: BaseException, context: Any) -> grpc.StatusCode:
    if isinstance(exc, grpc.aio.AbortError):
        return _context_code(context) or grpc.StatusCode.UNKNOWN
    return classify(exc)[0]


def _context_code(context: Any) -> grpc.StatusCode | None:
    try:
        return context.code()
    except Exception:
        return None


def _peer(context: Any) -> str:
    try:
        return context.peer()
    except Exception:
        return "?"


@sync_and_async_middleware
def log_requests_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The access log: see `_AccessLog`."""
    from asgiref.sync import iscoroutinefunction

    log = _AccessLog()

    if iscoroutinefunction(get_response):

        async def middleware(call: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await get_response(call)
            except BaseException as exc:
                log(call, started, exc)
                raise
            if call.response_stream:
                return _log_async_stream(response, call, started, log)
            log(call, started, None)
            return response

        return middleware

    def sync_middleware(call: Any) -> Any:
        started = time.perf_counter()
        try:
            response = get_response(call)
        except BaseException as exc:
            log(call, started, exc)
            raise
        if call.response_stream:
            return _log_sync_stream(response, call, started, log)
        log(call, started, None)
        return response

    return sync_middleware


async def _log_async_stream(stream: Any, call: Any, started: float, log: _AccessLog) -> AsyncIterator[Any]:
    try:
        async for item in stream:
            yield item
    except BaseException as exc:
        log(call, started, exc)
        raise
    log(call, started, None)


def _log_sync_stream(stream: Any, call: Any, started: float, log: _AccessLog) -> Iterator[Any]:
    try:
        yield from stream
    except BaseException as exc:
        log(call, started, exc)
        raise
    log(call, started, None)


class _PinnedThread(Executor):
    """One thread of the engine's pool, borrowed by one RPC on its first ORM call, held to its end.

    `sync_to_async` (the async ORM) sends an RPC's thread-sensitive calls here: they all run
    on one thread, as Django's connection handling requires, and the engine's pool
    (`--max-workers`) bounds how many run at once, as for `def` actions. Nothing is borrowed
    by an RPC that never touches the database.
    """

    __slots__ = ("_pool", "_queue")

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._queue: queue.SimpleQueue[Any] | None = None

    @property
    def used(self) -> bool:
        return self._queue is not None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        if self._queue is None:
            self._queue = queue.SimpleQueue()
            self._pool.submit(self._work, self._queue)
        self._queue.put((future, fn, args, kwargs))
        return future

    @staticmethod
    def _work(work: "queue.SimpleQueue[Any]") -> None:
        while (item := work.get()) is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._queue is not None:
            self._queue.put(None)  # gives the thread back to the pool


class _RpcDatabaseScope:
    """Django's per-request DB handling for an `async def` action.

    The RPC gets its own thread-sensitive context, as Django's ASGI handler gives each request;
    its ORM calls share one thread (a pinned thread of the engine's pool, or outside the engine
    one thread made on first use, as Django does). When the RPC ends and that thread was used,
    `request_finished` runs in it, closing the connection as after an HTTP request.
    """

    __slots__ = ("_context", "_pinned")

    def __init__(self, pool: Executor | None) -> None:
        self._pinned = _PinnedThread(pool) if pool is not None else None
        self._context = ThreadSensitiveContext(executor=self._pinned) if self._pinned else ThreadSensitiveContext()

    async def __aenter__(self) -> "_RpcDatabaseScope":
        await self._context.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        pinned = self._pinned
        if pinned is not None:
            try:
                if pinned.used:
                    await asyncio.get_running_loop().run_in_executor(pinned, _request_finished)
            finally:
                pinned.shutdown()
                await self._context.__aexit__(exc_type, exc, tb)
            return
        executor = SyncToAsync.context_to_thread_executor.get(self._context)
        try:
            if executor is not None:
                await asyncio.get_running_loop().run_in_executor(executor, _request_finished)
        finally:
            await self._context.__aexit__(exc_type, exc, tb)


def _request_started() -> None:
    signals.request_started.send(sender=None)


def _request_finished() -> None:
    signals.request_finished.send(sender=None)


@sync_and_async_middleware
def close_old_connections_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Sends `request_started` / `request_finished` in the thread that owns the connection."""
    from asgiref.sync import iscoroutinefunction

    if iscoroutinefunction(get_response):
        from django_socio_grpc.services.adapter import AIO, current_serving_mode

        mode = current_serving_mode()
        # The aio engine lends its pool; the thread-pool server's own pool must not be
        # borrowed by the async code its threads are waiting for.
        pool = mode.executor if mode.backend == AIO else None

        async def middleware(call: Any) -> Any:
            scope = _RpcDatabaseScope(pool)
            await scope.__aenter__()
            try:
                response = await get_response(call)
            except BaseException:
                await scope.__aexit__(None, None, None)
                raise
            if call.response_stream:
                return _close_async_stream(response, scope)
            await scope.__aexit__(None, None, None)
            return response

        return middleware

    def sync_middleware(call: Any) -> Any:
        _request_started()
        try:
            response = get_response(call)
        except BaseException:
            _request_finished()
            raise
        if call.response_stream:
            return _close_sync_stream(response)
        _request_finished()
        return response

    return sync_middleware


async def _close_async_stream(stream: Any, scope: _RpcDatabaseScope) -> AsyncIterator[Any]:
    try:
        async for item in stream:
            yield item
    finally:
        await scope.__aexit__(None, None, None)


def _close_sync_stream(stream: Any) -> Iterator[Any]:
    try:
        yield from stream
    finally:
        _request_finished()


__all__ = ["close_old_connections", "close_old_connections_middleware", "log_requests_middleware"]

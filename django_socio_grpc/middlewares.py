"""Default GRPC_MIDDLEWARE: Django-style factories, `middleware(get_response)`.

A middleware receives an `RpcCall` (`.service`, `.request`, `.context`, `.action`) and
returns what the action returned; for a server-streaming action that is the iterator of
responses, which a middleware wraps to act after the last message, as Django middleware
does with streaming responses.
"""
from __future__ import annotations

import asyncio
import logging
import time
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


class _RpcDatabaseScope(ThreadSensitiveContext):
    """Django's per-request DB handling for an `async def` action.

    Like Django's ASGI handler, the RPC gets its own thread-sensitive context: ORM calls it
    makes through `sync_to_async` share one thread created on first use. When the RPC ends
    and that thread exists, `request_finished` runs in it (closing the connection as Django
    does after a request) before the thread goes away. An RPC that never touches the
    database pays no thread hop.
    """

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        executor = SyncToAsync.context_to_thread_executor.pop(self, None)
        if executor is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(executor, _request_finished)
            finally:
                executor.shutdown(wait=False)
        await super().__aexit__(exc_type, exc, tb)


def _request_started() -> None:
    signals.request_started.send(sender=None)


def _request_finished() -> None:
    signals.request_finished.send(sender=None)


@sync_and_async_middleware
def close_old_connections_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Sends `request_started` / `request_finished` in the thread that owns the connection."""
    from asgiref.sync import iscoroutinefunction

    if iscoroutinefunction(get_response):

        async def middleware(call: Any) -> Any:
            scope = _RpcDatabaseScope()
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

"""Default GRPC_MIDDLEWARE: Django-style factories, `middleware(get_response)`.

A middleware receives an `RpcCall` (`.service`, `.request` alias `.grpc_request`, `.context`,
`.action`, and behind them an HttpRequest's face: `META`, `headers`, `COOKIES`, `user`... see
`django_socio_grpc.rpc.http`; Django's own middlewares work in GRPC_MIDDLEWARE) and
returns what the action returned; for a server-streaming action that is the iterator of
responses. A middleware may wrap that iterator; one that only acts when the stream is over
registers `call.on_stream_end(callback)` instead (Django's streaming responses have `close()`
for this), which costs nothing per message.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import grpc
from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.conf import settings
from django.core import signals
from django.db import close_old_connections
from django.utils.decorators import sync_and_async_middleware

from django_socio_grpc.rpc.capacity import StreamWorkers, stream_workers
from django_socio_grpc.rpc.errors import Aborted, mapped
from django_socio_grpc.rpc.http import SNAPSHOT, remember
from django_socio_grpc.settings import grpc_settings

logger = logging.getLogger("django_socio_grpc.request")


class _AccessLog:
    """One line per RPC on `django_socio_grpc.request`: method, status, duration, peer.

    Failed RPCs are always logged (WARNING, or ERROR for UNKNOWN and INTERNAL); successful ones
    at INFO when LOG_OK_RESPONSE is set or DEBUG is on (as django-socio-grpc), or when the server
    logs every request (`--access-log`, on with `--dev`: `call.runtime.log_ok`). Records carry
    `request` (the call) and `status_code` (a `grpc.StatusCode`) as extras. The status is the one the RPC ends with (the error is
    mapped before it reaches a middleware); the line of an unexpected error carries its
    traceback, and the error is marked logged so that nothing logs it again. Settings are
    read when the chain is built, not per call.
    """

    __slots__ = ("ignored", "log_ok")

    def __init__(self) -> None:
        # django-socio-grpc logs successful calls with DEBUG too.
        self.log_ok = bool(grpc_settings.LOG_OK_RESPONSE) or bool(settings.DEBUG)
        self.ignored = frozenset(grpc_settings.IGNORE_LOG_FOR_ACTION)

    def is_ignored(self, call: Any) -> bool:
        """IGNORE_LOG_FOR_ACTION names "Action", "ServiceController.Action" or, as
        django-socio-grpc has it, "ServiceClass.Action"."""
        ignored = self.ignored
        return call.action in ignored or call.full_action in ignored or f"{call.service_class.__name__}.{call.action}" in ignored

    def __call__(self, call: Any, started: float, exc: BaseException | None) -> None:
        if exc is None and not (self.log_ok or call.runtime.log_ok):
            return
        if self.ignored and self.is_ignored(call):
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        unlogged: Aborted | None = None
        if exc is None:
            level, status, note = logging.INFO, grpc.StatusCode.OK, ""
        elif isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
            level, status, note = logging.INFO, grpc.StatusCode.CANCELLED, ""  # the client went away or grace ran out
        else:
            status = _status_of(exc, call.context)
            level = getattr(exc, "logging_level", None)  # a mapped error's (GRPCException.logging_level)
            if level is None:
                level = logging.ERROR if status in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL) else logging.WARNING
            origin = exc.origin if isinstance(exc, Aborted) else exc
            note = f" ({type(origin).__name__})"
            if isinstance(exc, Aborted) and exc.unexpected and not exc.logged:
                unlogged = exc
        if logger.isEnabledFor(level):
            remember(call)  # the record's `request` stays readable after the RPC
            exc_info = unlogged.origin if unlogged is not None else None
            # The extras django-socio-grpc documents (and Django's django.request has): the request
            # (the call, with its HttpRequest face) and the status.
            logger.log(level, "gRPC %s %s %.1fms peer=%s%s", call.full_action, status.name, elapsed_ms, _peer_of(call),
                       note, exc_info=exc_info, extra={"request": call, "status_code": status})
            if unlogged is not None:
                unlogged.logged = True


def _status_of(exc: BaseException, context: Any) -> grpc.StatusCode:
    if isinstance(exc, Aborted):
        return exc.code
    # grpc.aio's own abort: the code is on the context (anything else is mapped before here)
    return _context_code(context) or grpc.StatusCode.UNKNOWN


def _context_code(context: Any) -> grpc.StatusCode | None:
    try:
        return context.code()
    except Exception:
        return None


def _peer_of(call: Any) -> str:
    """The snapshot `remember()` took while the RPC was on, which a stream's line needs: once a
    cancelled grpc.aio stream has died, its context's `peer()` crashes the process (grpc 1.85)."""
    snapshot = call.__dict__.get(SNAPSHOT)
    if snapshot is not None:
        return snapshot[1] or "?"
    try:
        return call.context.peer()
    except Exception:
        return "?"


@sync_and_async_middleware
def log_requests_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The access log: see `_AccessLog`. An error that an inner middleware raised is mapped
    here (once), and the mapped error goes on outwards."""
    from asgiref.sync import iscoroutinefunction

    log = _AccessLog()

    if iscoroutinefunction(get_response):

        log_ok = log.log_ok

        async def middleware(call: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await get_response(call)
            except BaseException as exc:
                error = mapped(exc)
                log(call, started, error)
                if error is exc:
                    raise
                raise error from exc
            if call.response_stream:
                remember(call)  # the line is written when the stream ends, maybe once the call died
                call.on_stream_end(lambda error: log(call, started, error))
                return response
            if log_ok or call.runtime.log_ok:
                log(call, started, None)
            return response

        return middleware

    def sync_middleware(call: Any) -> Any:
        started = time.perf_counter()
        try:
            response = get_response(call)
        except BaseException as exc:
            error = mapped(exc)
            log(call, started, error)
            if error is exc:
                raise
            raise error from exc
        if call.response_stream:
            remember(call)  # the line is written when the stream ends, maybe once the call died
            call.on_stream_end(lambda error: log(call, started, error))
            return response
        log(call, started, None)
        return response

    return sync_middleware


class _RpcThread(ThreadSensitiveContext, Executor):
    """The thread that runs one `async def` RPC's thread-sensitive work (the async ORM).

    It is the RPC's thread-sensitive context, as Django's ASGI handler gives each request one:
    every `sync_to_async` call the RPC makes runs on one thread, as Django's connection handling
    requires. That thread is borrowed from the engine's pool (`--max-workers`) on the first call
    and given back when the RPC ends, so the pool bounds blocking ORM work of async actions as it
    does for `def` actions; outside the engine it is a thread of its own. An RPC that never
    touches the database borrows nothing and pays no thread hop.

    It is a `ThreadSensitiveContext` entered the way `ThreadSensitiveContext(executor=...)` is
    (context variable plus executor registration), without that method's thread-local juggling,
    which only matters under an enclosing `async_to_sync` (never the case on the event loop)
    and costs more than the rest of the RPC path.

    A streaming RPC keeps its thread until the stream ends: with `workers` (`rpc.capacity`) the
    thread is one of the stream workers, and its ORM calls wait (holding no thread) until one is
    free, so idle streams cannot take the threads unary calls need.
    """

    def __init__(self, pool: Executor | None, workers: StreamWorkers | None = None) -> None:
        super().__init__()
        self._pool = pool
        self._queue: queue.SimpleQueue[Any] | None = None
        self._own_pool: Executor | None = None
        self._left = False
        self._workers = workers if pool is not None else None
        self._waiting = False

    def enter(self) -> None:
        self._token = SyncToAsync.thread_sensitive_context.set(self)
        SyncToAsync.context_to_thread_executor[self] = self

    @property
    def used(self) -> bool:
        return self._queue is not None

    async def finish(self) -> None:
        """`request_finished` in the RPC's thread, if it had one; then give the thread back."""
        try:
            if self._queue is not None:
                await asyncio.get_running_loop().run_in_executor(self, _request_finished)
        finally:
            self.leave()

    def leave(self) -> None:
        """Give the thread back, then leave the context; once, from any Context.

        grpc.aio closes a cancelled (or expired) stream's generator from a task of its own, whose
        Context is not the one `enter()` set the variable in: resetting the token there raises.
        So the thread is released first, and the reset is only attempted (the Context it was
        set in ends with the RPC's task anyway).
        """
        if self._left:
            return
        self._left = True
        SyncToAsync.context_to_thread_executor.pop(self, None)
        if self._waiting and self._workers is not None and self._workers.forget(self._granted):
            self._waiting = False  # never started: nothing to give back
        if self._queue is not None:
            self._queue.put(None)
        if self._own_pool is not None:
            self._own_pool.shutdown(wait=False)
        try:
            SyncToAsync.thread_sensitive_context.reset(self._token)
        except ValueError:  # "created in a different Context"
            pass

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        if self._queue is None:
            self._queue = queue.SimpleQueue()
            pool = self._pool
            workers = self._workers
            if pool is None:
                pool = self._own_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grpc-rpc")
                pool.submit(self._work, self._queue, None)
            elif workers is None:
                pool.submit(self._work, self._queue, None)
            elif workers.take_or_wait(self._granted):
                pool.submit(self._work, self._queue, workers)
            else:
                self._waiting = True  # the work queues up meanwhile
        self._queue.put((future, fn, args, kwargs))
        return future

    def _granted(self) -> None:
        """A stream worker was handed over (in the thread that gave it back): start."""
        self._waiting = False
        assert self._pool is not None and self._workers is not None
        try:
            self._pool.submit(self._work, self._queue, self._workers)
        except RuntimeError:  # the pool has shut down: the server is gone
            self._workers.give()

    @staticmethod
    def _work(work: queue.SimpleQueue[Any], workers: StreamWorkers | None) -> None:
        try:
            while (item := work.get()) is not None:
                future, fn, args, kwargs = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as exc:
                        future.set_exception(exc)
        finally:
            if workers is not None:
                workers.give()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # the RPC ends it, in finish()/leave()


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
            # The aio engine lends its pool; the thread-pool server's own pool must not be
            # borrowed by the async code its threads are waiting for (`Runtime.orm_pool`).
            pool = call.runtime.orm_pool
            rpc_thread = _RpcThread(pool, stream_workers(pool) if call.streaming and pool is not None else None)
            rpc_thread.enter()
            try:
                response = await get_response(call)
            except BaseException:
                await rpc_thread.finish()
                raise
            if call.response_stream:
                call.on_stream_end(lambda error: rpc_thread.finish())
                return response
            if rpc_thread.used:
                await rpc_thread.finish()
            else:
                rpc_thread.leave()
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
            call.on_stream_end(lambda error: _request_finished())
            return response
        _request_finished()
        return response

    return sync_middleware


@sync_and_async_middleware
def locale_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Activates the request's language for the action (django-socio-grpc's `locale_middleware`):
    Django's `get_language_from_request()` on the request's face, that is the language cookie
    (LANGUAGE_COOKIE_NAME in the `cookie` metadata), else the `accept-language` metadata, else
    LANGUAGE_CODE. (Django's own LocaleMiddleware works too, and also sends `content-language`.)"""
    from asgiref.sync import iscoroutinefunction
    from django.utils import translation

    if iscoroutinefunction(get_response):

        async def middleware(call: Any) -> Any:
            translation.activate(translation.get_language_from_request(call))
            return await get_response(call)

        return middleware

    def sync_middleware(call: Any) -> Any:
        translation.activate(translation.get_language_from_request(call))
        return get_response(call)

    return sync_middleware


__all__ = ["close_old_connections", "close_old_connections_middleware", "locale_middleware", "log_requests_middleware"]

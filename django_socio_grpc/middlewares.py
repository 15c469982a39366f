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
import time
from collections.abc import Callable
from typing import Any

import grpc
from django.conf import settings
from django.db import close_old_connections
from django.utils.decorators import sync_and_async_middleware

from django_socio_grpc.rpc.chain import async_dispatch
from django_socio_grpc.rpc.errors import Aborted, mapped
from django_socio_grpc.rpc.http import SNAPSHOT, remember
from django_socio_grpc.rpc.orm import RpcThread, request_finished_in_thread, request_started_in_thread
from django_socio_grpc.rpc.orm import register as register_router
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

    def after(self, call: Any, started: float) -> None:
        """The call's action returned: its line now, or when its response stream ends."""
        if call.response_stream:
            remember(call)  # the line is written when the stream ends, maybe once the call died
            call.on_stream_end(lambda error: self(call, started, error))
        elif self.log_ok or call.runtime.log_ok:
            self(call, started, None)

    def failed(self, call: Any, started: float, exc: BaseException) -> BaseException:
        """The call failed with `exc`: its line; returns the final status to raise (`exc` itself
        if final already)."""
        error = mapped(exc)
        self(call, started, error)
        return error

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

        async def middleware(call: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await get_response(call)
            except BaseException as exc:
                error = log.failed(call, started, exc)
                if error is exc:
                    raise
                raise error from exc
            log.after(call, started)
            return response

        return middleware

    def sync_middleware(call: Any) -> Any:
        started = time.perf_counter()
        try:
            response = get_response(call)
        except BaseException as exc:
            error = log.failed(call, started, exc)
            if error is exc:
                raise
            raise error from exc
        log.after(call, started)
        return response

    return sync_middleware


@sync_and_async_middleware
def close_old_connections_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Django's per-request database handling, in the thread that owns the connection: for `def`
    actions `request_started` / `request_finished` around the RPC in its worker thread (not sent
    where they could do nothing: see `rpc.orm`); for `async def` actions a thread-sensitive
    context of the RPC's own (`rpc.orm`), whose thread is borrowed on the first ORM call and ends
    with `request_finished`."""
    from asgiref.sync import iscoroutinefunction

    if iscoroutinefunction(get_response):
        register_router()

        async def middleware(call: Any) -> Any:
            # The aio engine lends its pool; the thread-pool server's own pool must not be
            # borrowed by the async code its threads are waiting for (`Runtime.orm_pool`).
            rpc_thread = RpcThread(call.runtime.orm_pool, call.streaming)
            try:
                response = await get_response(call)
            except BaseException:
                await rpc_thread.finish()
                raise
            pending = rpc_thread.after(call)
            if pending is not None:
                await pending
            return response

        return middleware

    def sync_middleware(call: Any) -> Any:
        request_started_in_thread()
        try:
            response = get_response(call)
        except BaseException:
            request_finished_in_thread()
            raise
        if call.response_stream:
            call.on_stream_end(lambda error: request_finished_in_thread())
            return response
        request_finished_in_thread()
        return response

    return sync_middleware


@sync_and_async_middleware
def log_requests_and_close_old_connections(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`log_requests_middleware` around `close_old_connections_middleware` (the default
    GRPC_MIDDLEWARE), built from the same pieces: the chain uses it for that pair. For `async def`
    actions it is one coroutine instead of two (and, innermost, calls the action's terminal
    without the dispatcher's): a coroutine layer costs about as much as what these two do."""
    from asgiref.sync import iscoroutinefunction

    if not iscoroutinefunction(get_response):
        return log_requests_middleware(close_old_connections_middleware(get_response))
    register_router()
    log = _AccessLog()
    respond = None if get_response is async_dispatch else get_response

    async def middleware(call: Any) -> Any:
        started = time.perf_counter()
        try:
            rpc_thread = RpcThread(call.runtime.orm_pool, call.streaming)
            try:
                if respond is not None:
                    response = await respond(call)
                elif call.direct:  # errors are mapped below, as the terminal would
                    response = await getattr(call.service, call.action)(call.request, call.context)
                else:
                    response = await call.terminal(call)
            except BaseException:
                await rpc_thread.finish()
                raise
            pending = rpc_thread.after(call)
            if pending is not None:
                await pending
        except BaseException as exc:
            error = log.failed(call, started, exc)
            if error is exc:
                raise
            raise error from exc
        log.after(call, started)
        return response

    return middleware


# The chain builder puts the fused middleware in place of this adjacent pair (`rpc.chain`).
log_requests_middleware.fuses_with = {close_old_connections_middleware: log_requests_and_close_old_connections}  # type: ignore[attr-defined]


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


__all__ = [
    "close_old_connections", "close_old_connections_middleware", "locale_middleware", "log_requests_and_close_old_connections",
    "log_requests_middleware",
]

"""SERVER_INTERCEPTORS, guarded: what an interceptor raises fails that call like an action's error.

grpc answers an exception escaping an interceptor with UNKNOWN and the exception's text
(`Unexpected <class 'ValueError'>: ...`), and logs it nowhere. Here the client gets the class
name only (the message too with DEBUG), and the traceback goes to the server log.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc

from hybrid_server.grpc.foreign import client_details, failing_handler, is_sync_abort, keep_markers

logger = logging.getLogger("hybrid_server.grpc")


def _log(interceptor: Any, method: str, exc: BaseException) -> None:
    logger.error("Exception in interceptor %s for %s", type(interceptor).__qualname__, method, exc_info=exc)


_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def _guard_handler(handler: Any, interceptor: Any, method: str, aio: bool) -> Any:
    """Wrap the behaviour an interceptor handed back, so that its own wrapping code is caught too."""
    for kind in _KINDS:
        behaviour = getattr(handler, kind, None)
        if behaviour is not None:
            return handler._replace(**{kind: _guard_behaviour(behaviour, interceptor, method, aio)})
    return handler


# What the behaviour an interceptor hands back may raise on its way out that is not a failure of
# its own; anything else, BaseException included (grpc.aio's RPC task is not wrapped: see
# hybrid_server.containment), fails the call.
_AIO_PASSING: tuple[type[BaseException], ...] = (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit)
_SYNC_PASSING: tuple[type[BaseException], ...] = (GeneratorExit,)


def _guard_behaviour(behaviour: Callable[..., Any], interceptor: Any, method: str, aio: bool) -> Callable[..., Any]:
    passing = _AIO_PASSING if aio else _SYNC_PASSING
    if inspect.iscoroutinefunction(behaviour):

        async def coroutine(request: Any, context: Any) -> Any:
            try:
                return await behaviour(request, context)
            except passing:
                raise
            except BaseException as exc:
                _log(interceptor, method, exc)
                await context.abort(grpc.StatusCode.UNKNOWN, client_details(exc))

        return coroutine
    if inspect.isasyncgenfunction(behaviour):

        async def generator(request: Any, context: Any) -> Any:
            try:
                async for item in behaviour(request, context):
                    yield item
            except passing:
                raise
            except BaseException as exc:
                _log(interceptor, method, exc)
                await context.abort(grpc.StatusCode.UNKNOWN, client_details(exc))

        return generator

    def function(request: Any, context: Any, *rest: Any) -> Any:
        try:
            result = behaviour(request, context, *rest)
        except passing:
            raise
        except BaseException as exc:
            if is_sync_abort(exc):
                raise
            _log(interceptor, method, exc)
            context.abort(grpc.StatusCode.UNKNOWN, client_details(exc))
        if inspect.isgenerator(result):
            return _guard_iterator(result, context, interceptor, method)
        return result

    keep_markers(behaviour, function)
    return function


def _guard_iterator(iterator: Any, context: Any, interceptor: Any, method: str) -> Any:
    try:
        yield from iterator
    except _SYNC_PASSING:
        raise
    except BaseException as exc:
        if is_sync_abort(exc):
            raise
        _log(interceptor, method, exc)
        context.abort(grpc.StatusCode.UNKNOWN, client_details(exc))


class GuardedAioInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, inner: grpc.aio.ServerInterceptor) -> None:
        self.inner = inner

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        method = handler_call_details.method
        try:
            handler = await self.inner.intercept_service(continuation, handler_call_details)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            _log(self.inner, method, exc)
            return failing_handler(client_details(exc), aio=True)
        return _guard_handler(handler, self.inner, method, aio=True) if handler is not None else None


class GuardedSyncInterceptor(grpc.ServerInterceptor):
    def __init__(self, inner: grpc.ServerInterceptor) -> None:
        self.inner = inner

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        method = handler_call_details.method
        try:
            handler = self.inner.intercept_service(continuation, handler_call_details)
        except BaseException as exc:
            _log(self.inner, method, exc)
            return failing_handler(client_details(exc), aio=False)
        return _guard_handler(handler, self.inner, method, aio=False) if handler is not None else None


def guard_interceptors(interceptors: list[Any] | None, aio: bool) -> list[Any] | None:
    if not interceptors:
        return None
    guard = GuardedAioInterceptor if aio else GuardedSyncInterceptor
    return [guard(interceptor) for interceptor in interceptors]

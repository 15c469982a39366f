"""Behaviours the app did not build (health, reflection, a hand-written servicer), as the engine
serves them: an undecodable request ends the RPC with INVALID_ARGUMENT instead of reaching them,
and whatever they raise fails that call only.

grpc answers an exception escaping a handler with UNKNOWN and its text (`Unexpected <class
'ValueError'>: ...`); a `SystemExit` or `KeyboardInterrupt` leaves the call without a status
until its deadline (and, unchecked, would stop the loop). Here the client gets the class name
only (the message too with DEBUG), the traceback goes to the log, and the server keeps serving.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc

from hybrid_server.containment import EscapedExit
from hybrid_server.grpc.guard import UndecodableRequest

logger = logging.getLogger("hybrid_server.grpc")

# What a handler may raise on its way out that is not a failure of its own.
_PASSING: tuple[type[BaseException], ...] = (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit)


def adopt_foreign(behaviour: Callable[..., Any], request_streaming: bool, guard: bool) -> Callable[..., Any]:
    """`behaviour` contained, and (when `guard`: its deserializer is guarded) rejecting
    undecodable requests."""
    contained = contain(behaviour)
    return reject_undecodable(contained, request_streaming) if guard else contained


def client_details(exc: BaseException) -> str:
    """What a client may see of an exception: its class name, and its message with DEBUG."""
    from django.conf import settings

    original = exc.original if isinstance(exc, EscapedExit) else exc
    name = type(original).__name__
    return f"{name}: {original}" if settings.DEBUG and str(original) else name


def is_sync_abort(exc: BaseException) -> bool:
    """grpc's thread-pool `context.abort()` raises a bare `Exception()`."""
    return type(exc) is Exception and not exc.args


def failing_handler(details: str, aio: bool) -> Any:
    """A method handler that fails its call with UNKNOWN and `details`."""
    if aio:

        async def fail(request: Any, context: Any) -> Any:
            await context.abort(grpc.StatusCode.UNKNOWN, details)

        return grpc.unary_unary_rpc_method_handler(fail)

    def fail_sync(request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNKNOWN, details)

    return grpc.unary_unary_rpc_method_handler(fail_sync)


def failure_handler(exc: BaseException, what: str, aio: bool) -> Any:
    """`exc` raised by `what` (code the app did not build, looking up a call's handler): logged with
    its traceback; the call fails with UNKNOWN and the class name only outside DEBUG."""
    logger.error("Exception in %s", what, exc_info=exc)
    return failing_handler(client_details(exc), aio)


def _failed(exc: BaseException) -> str:
    logger.error("Exception in a handler the app did not build", exc_info=exc)
    return client_details(exc)


def contain(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(behaviour):

        async def coroutine(request: Any, context: Any) -> Any:
            try:
                return await behaviour(request, context)
            except _PASSING:
                raise
            except BaseException as exc:
                await context.abort(grpc.StatusCode.UNKNOWN, _failed(exc))

        return coroutine
    if inspect.isasyncgenfunction(behaviour):

        async def generator(request: Any, context: Any) -> Any:
            try:
                async for item in behaviour(request, context):
                    yield item
            except _PASSING:
                raise
            except BaseException as exc:
                await context.abort(grpc.StatusCode.UNKNOWN, _failed(exc))

        return generator

    def function(request: Any, context: Any, *rest: Any) -> Any:
        try:
            result = behaviour(request, context, *rest)
        except _PASSING:
            raise
        except BaseException as exc:
            if is_sync_abort(exc):
                raise
            _abort_sync(context, grpc.StatusCode.UNKNOWN, _failed(exc))
        if inspect.isgenerator(result):
            return _contained_iterator(result, context)
        return result

    keep_markers(behaviour, function)
    return function


def _contained_iterator(iterator: Any, context: Any) -> Any:
    try:
        yield from iterator
    except _PASSING:
        raise
    except BaseException as exc:
        if is_sync_abort(exc):
            raise
        _abort_sync(context, grpc.StatusCode.UNKNOWN, _failed(exc))


def keep_markers(behaviour: Callable[..., Any], wrapper: Callable[..., Any]) -> None:
    """grpc's thread-pool server hands a response callback to behaviours marked non-blocking
    (the health servicer's Watch), which then hold no thread."""
    for name in ("experimental_non_blocking", "experimental_thread_pool"):
        if hasattr(behaviour, name):
            setattr(wrapper, name, getattr(behaviour, name))


def _abort_sync(context: Any, code: grpc.StatusCode, details: str) -> None:
    result = context.abort(code, details)
    if inspect.iscoroutine(result):  # grpc.aio's context, seen from a sync handler's thread
        result.close()
        context.set_code(code)
        context.set_details(details)
        raise RuntimeError(details)


def _rejection(request: Any) -> UndecodableRequest | None:
    return request if request.__class__ is UndecodableRequest else None


def reject_undecodable(behaviour: Callable[..., Any], request_streaming: bool) -> Callable[..., Any]:
    """An undecodable request ends its RPC with INVALID_ARGUMENT instead of reaching `behaviour`."""
    if inspect.iscoroutinefunction(behaviour):

        async def coroutine(request: Any, context: Any) -> Any:
            request = _checked_async(request, context) if request_streaming else request
            bad = None if request_streaming else _rejection(request)
            if bad is not None:
                await context.abort(bad.code, bad.details)
            return await behaviour(request, context)

        return coroutine
    if inspect.isasyncgenfunction(behaviour):

        async def generator(request: Any, context: Any) -> Any:
            request = _checked_async(request, context) if request_streaming else request
            bad = None if request_streaming else _rejection(request)
            if bad is not None:
                await context.abort(bad.code, bad.details)
            async for item in behaviour(request, context):
                yield item

        return generator

    def function(request: Any, context: Any, *rest: Any) -> Any:
        request = _checked_sync(request, context) if request_streaming else request
        bad = None if request_streaming else _rejection(request)
        if bad is not None:
            _abort_sync(context, bad.code, bad.details)
        return behaviour(request, context, *rest)

    keep_markers(behaviour, function)
    return function


async def _checked_async(requests: Any, context: Any) -> Any:
    async for item in requests:
        if item.__class__ is UndecodableRequest:
            await context.abort(item.code, item.details)
        yield item


def _checked_sync(requests: Any, context: Any) -> Any:
    for item in requests:
        if item.__class__ is UndecodableRequest:
            _abort_sync(context, item.code, item.details)
        yield item

"""django-socio-grpc's utilities at their documented path (`django_socio_grpc.utils.utils`)."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django_socio_grpc.services.app_handler_registry import camel_to_snake


async def safe_async_response(
    fn: Callable[[Any], Any], request: Any, process_exceptions: Callable[[BaseException, Any], Awaitable[Any]] | None = None
) -> Any:
    """`await fn(request)` whatever `fn` returns: the result of a coroutine, an async generator
    (a streaming action's response) as it is, anything else as it is. A middleware's
    `return await safe_async_response(get_response, request)` thus works for every action.

    With `process_exceptions`, an exception (of the call, or of the stream as it is iterated) is
    handed to `await process_exceptions(exc, request)` instead of being raised; whatever that
    returns (or raises) is the outcome.
    """
    response = fn(request)
    if inspect.isawaitable(response):
        if process_exceptions is None:
            return await response
        try:
            return await response
        except Exception as exc:
            return await process_exceptions(exc, request)
    if process_exceptions is not None and hasattr(response, "__aiter__"):
        return _guarded_stream(response, request, process_exceptions)
    return response


async def _guarded_stream(
    stream: Any, request: Any, process_exceptions: Callable[[BaseException, Any], Awaitable[Any]]
) -> AsyncIterator[Any]:
    try:
        async for item in stream:
            yield item
    except Exception as exc:
        await process_exceptions(exc, request)


def isgeneratorfunction(fn: Any) -> bool:
    """A generator function, sync or async (a streaming action written with `yield`)."""
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)


__all__ = ["camel_to_snake", "isgeneratorfunction", "safe_async_response"]

"""The end of the middleware chain: `before_action`, the action, `after_action`.

Which hooks a service overrides, and whether they are async, is decided once per binding, so
the per-RPC path neither calls no-op hooks nor inspects. What the hooks and the action raise
is mapped to its status here (the terminal boundary), so middlewares see the final status: any
`BaseException` (SystemExit, KeyboardInterrupt, a CancelledError the action raised itself) but
a cancellation of the call (`errors.passes`).
"""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from django_socio_grpc.rpc.bridges import coroutine_runner
from django_socio_grpc.rpc.call import DIRECT, RpcCall
from django_socio_grpc.rpc.errors import FINAL, map_exception, passes
from hybrid_server.grpc.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_HOOK_ATTRIBUTE = "_rpc_default_hook"
NO_HOOK, SYNC_HOOK, ASYNC_HOOK = 0, 1, 2


def default_hook(function: F) -> F:
    """Marks a base class's no-op hook: a service that does not override it pays nothing."""
    setattr(function, DEFAULT_HOOK_ATTRIBUTE, True)
    return function


def is_async_callable(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def hook_kind(cls: type, name: str) -> int:
    hook = getattr(cls, name, None)
    if hook is None or getattr(hook, DEFAULT_HOOK_ATTRIBUTE, False):
        return NO_HOOK
    return ASYNC_HOOK if inspect.iscoroutinefunction(hook) else SYNC_HOOK


def async_terminal(cls: type, action: str, response_stream: bool) -> Callable[[RpcCall], Awaitable[Any]]:
    """For an `async def` action, run on an event loop."""
    before = hook_kind(cls, "before_action")
    after = hook_kind(cls, "after_action")

    if not response_stream:

        async def run_unary(call: RpcCall) -> Any:
            service = call.service
            try:
                if before:
                    if before == ASYNC_HOOK:
                        await service.before_action()
                    else:
                        service.before_action()
                response = await getattr(service, action)(call.request, call.context)
                if after:
                    if after == ASYNC_HOOK:
                        await service.after_action()
                    else:
                        service.after_action()
            except FINAL:
                raise
            except BaseException as exc:
                if passes(exc):
                    raise
                raise map_exception(exc) from exc
            return response

        if not before and not after:
            setattr(run_unary, DIRECT, True)
        return run_unary

    async def run_stream(call: RpcCall) -> AsyncIterator[Any]:
        service = call.service
        try:
            if before == ASYNC_HOOK:
                await service.before_action()
            elif before:
                service.before_action()
            stream = getattr(service, action)(call.request, call.context)
            if inspect.isawaitable(stream):
                stream = await stream
        except FINAL:
            raise
        except BaseException as exc:
            if passes(exc):
                raise
            raise map_exception(exc) from exc
        if not after and hasattr(stream, "__aiter__"):
            return stream
        return _after_async(stream, service)

    async def _after_async(stream: Any, service: Any) -> AsyncIterator[Any]:
        if hasattr(stream, "__aiter__"):
            async for item in stream:
                yield item
        elif stream is not None:  # None: the action sent its messages with `await context.write()`
            for item in stream:
                yield item
        if after == ASYNC_HOOK:
            await service.after_action()
        elif after:
            service.after_action()

    return run_stream


def sync_terminal(cls: type, action: str, response_stream: bool, runtime: Runtime) -> Callable[[RpcCall], Any]:
    """For a `def` action, run in a worker thread; async hooks run on the serving loop."""
    before = hook_kind(cls, "before_action")
    after = hook_kind(cls, "after_action")
    run_coroutine = coroutine_runner(runtime) if ASYNC_HOOK in (before, after) else None

    def run_hook(kind: int, hook: Callable[[], Any]) -> None:
        if kind == ASYNC_HOOK:
            assert run_coroutine is not None
            run_coroutine(hook())
        else:
            hook()

    if not response_stream:

        def run_unary(call: RpcCall) -> Any:
            service = call.service
            try:
                if before:
                    run_hook(before, service.before_action)
                response = getattr(service, action)(call.request, call.context)
                if after:
                    run_hook(after, service.after_action)
            except FINAL:
                raise
            except BaseException as exc:
                if passes(exc):
                    raise
                raise map_exception(exc) from exc
            return response

        return run_unary

    def run_stream(call: RpcCall) -> Iterator[Any]:
        service = call.service
        try:
            if before:
                run_hook(before, service.before_action)
            stream = getattr(service, action)(call.request, call.context)
            if not after:
                return iter(stream)
        except FINAL:
            raise
        except BaseException as exc:
            if passes(exc):
                raise
            raise map_exception(exc) from exc
        return _after_sync(stream, service)

    def _after_sync(stream: Any, service: Any) -> Iterator[Any]:
        yield from stream
        run_hook(after, service.after_action)

    return run_stream

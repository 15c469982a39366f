"""Handlers for aio-style transports: grpc.aio, and the HTTP transports that call them.

`async def` actions are awaited on the loop (no thread hop), with the transport's own context.
A `def` action runs the whole RPC (middleware, hooks, action, the stream and its end
callbacks) in ONE worker thread of the runtime's executor (None: the loop's default), which
owns its DB connection; it sees the context through a `SyncContext`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django_socio_grpc.rpc.bridges import _iterate_in_thread, _SyncRequestIterator, checked_aiter
from django_socio_grpc.rpc.call import Binding, RpcCall, stream_sync
from django_socio_grpc.rpc.capacity import stream_workers
from django_socio_grpc.rpc.chain import entry_point
from django_socio_grpc.rpc.envelope import async_stream, async_unary
from django_socio_grpc.rpc.terminals import async_terminal, is_async_callable, sync_terminal
from hybrid_server.grpc.runtime import Runtime


def _no_call(request: Any, context: Any) -> None:
    return None


def aio_handler(core: Any, action: str, request_stream: bool, response_stream: bool, runtime: Runtime) -> Callable[..., Any]:
    """`core`: the servicer's shared part (service class, initkwargs, chains)."""
    cls = core.service_class
    if is_async_callable(getattr(cls, action)):
        return _async_action(core, action, request_stream, response_stream, runtime)
    return _sync_action(core, action, request_stream, response_stream, runtime)


def _async_action(core: Any, action: str, request_stream: bool, response_stream: bool, runtime: Runtime) -> Callable[..., Any]:
    if request_stream or response_stream:
        stream_workers(runtime.executor)  # made now, with the settings of the binding (its ORM thread is one)
    terminal = async_terminal(core.service_class, action, response_stream)
    binding = Binding(core.service_class, core.initkwargs, action, response_stream, terminal, runtime, request_stream)
    entry = entry_point(core.chain(is_async=True), terminal)

    def make_call(request: Any, context: Any) -> RpcCall:
        if request_stream:
            request = checked_aiter(request, context)
        return RpcCall(binding, request, context)

    if not response_stream:

        def start(request: Any, context: Any) -> Any:
            return entry(make_call(request, context))

        return async_unary(start, binding.where, threaded=False)

    def open_stream(call: Any, request: Any, context: Any) -> Any:
        return entry(call)

    return async_stream(make_call, open_stream, binding.where, threaded=False)


def _sync_action(core: Any, action: str, request_stream: bool, response_stream: bool, runtime: Runtime) -> Callable[..., Any]:
    terminal = sync_terminal(core.service_class, action, response_stream, runtime)
    binding = Binding(core.service_class, core.initkwargs, action, response_stream, terminal, runtime, request_stream)
    entry = entry_point(core.chain(is_async=False), terminal)
    executor = runtime.executor
    # A streaming `def` action holds its thread from first message to last: one of the stream workers.
    workers = stream_workers(executor) if request_stream or response_stream else None
    idle = workers.idle_timeout if workers is not None else None

    def make_call(request: Any, context: Any, loop: asyncio.AbstractEventLoop, task: Any) -> RpcCall:
        if request_stream:
            request = _SyncRequestIterator(request, loop, context._context, task, idle)
        return RpcCall(binding, request, context)

    if not response_stream:

        def run_in_thread(request: Any, context: Any, loop: asyncio.AbstractEventLoop, task: Any) -> Any:
            return entry(make_call(request, context, loop, task))

        def start(request: Any, context: Any) -> Any:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task() if request_stream else None
            return loop.run_in_executor(executor, run_in_thread, request, context, loop, task)

        if workers is None:
            return async_unary(start, binding.where, threaded=True)

        async def start_stream(request: Any, context: Any) -> Any:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            await workers.take()  # holding no thread meanwhile
            try:
                future = executor.submit(run_in_thread, request, context, loop, task)  # type: ignore[union-attr]
            except BaseException:
                workers.give()
                raise
            future.add_done_callback(lambda _: workers.give())  # when the thread is done, not the RPC
            return await asyncio.wrap_future(future)

        return async_unary(start_stream, binding.where, threaded=True)

    async def open_stream(call: None, request: Any, context: Any) -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task() if request_stream else None
        return _iterate_in_thread(executor, loop, lambda: stream_sync(make_call(request, context, loop, task), entry), workers)

    return async_stream(_no_call, open_stream, binding.where, threaded=True)

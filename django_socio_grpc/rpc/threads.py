"""Handlers for grpc's thread-pool server.

`def` actions run in grpc's worker thread, with a `ThreadContext`. An `async def` action runs
on the runtime's bridge loop (the chain and, for a stream, every message in ONE task), the
grpc thread waiting for it; it sees the context through an `AsyncContext`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from django_socio_grpc.rpc.bridges import _AsyncRequestIterator, _iterate_on_loop, _wait_future, checked_iter
from django_socio_grpc.rpc.call import Binding, RpcCall, stream_async, stream_sync
from django_socio_grpc.rpc.capacity import StreamsRefused, StreamWorkers, stream_workers
from django_socio_grpc.rpc.chain import entry_point
from django_socio_grpc.rpc.contexts import AsyncContext, ThreadContext
from django_socio_grpc.rpc.envelope import sync_stream, sync_unary
from django_socio_grpc.rpc.terminals import async_terminal, is_async_callable, sync_terminal
from hybrid_server.grpc.runtime import Runtime


def threads_handler(core: Any, action: str, request_stream: bool, response_stream: bool, runtime: Runtime) -> Callable[..., Any]:
    """`core`: the servicer's shared part (service class, initkwargs, chains)."""
    if is_async_callable(getattr(core.service_class, action)):
        handler = _async_action(core, action, request_stream, response_stream, runtime)
    else:
        handler = _sync_action(core, action, request_stream, response_stream, runtime)
    if request_stream or response_stream:
        workers = stream_workers(runtime.executor)
        if workers is not None:
            return _limited(handler, workers, response_stream)
    return handler


def _limited(handler: Callable[..., Any], workers: StreamWorkers, response_stream: bool) -> Callable[..., Any]:
    """Every streaming RPC holds one of grpc's threads here: one of the stream workers, or
    RESOURCE_EXHAUSTED at once (waiting for one would hold a thread too)."""
    refused = StreamsRefused(workers.limit)

    if response_stream:

        def stream(request: Any, context: Any) -> Iterator[Any]:
            if not workers.try_take():
                context.abort(refused.code, refused.details)
            try:
                yield from handler(request, context)
            finally:
                workers.give()

        return stream

    def unary(request: Any, context: Any) -> Any:
        if not workers.try_take():
            context.abort(refused.code, refused.details)
        try:
            return handler(request, context)
        finally:
            workers.give()

    return unary


def _sync_action(core: Any, action: str, request_stream: bool, response_stream: bool, runtime: Runtime) -> Callable[..., Any]:
    terminal = sync_terminal(core.service_class, action, response_stream, runtime)
    binding = Binding(core.service_class, core.initkwargs, action, response_stream, terminal, runtime, request_stream)
    entry = entry_point(core.chain(is_async=False), terminal)

    def make_call(request: Any, context: Any) -> RpcCall:
        if request_stream:
            request = checked_iter(request)
        return RpcCall(binding, request, ThreadContext(context))

    if not response_stream:

        def start(request: Any, context: Any) -> Any:
            return entry(make_call(request, context))

        return sync_unary(start, binding.where)

    def open_stream(request: Any, context: Any) -> Any:
        return stream_sync(make_call(request, context), entry)

    return sync_stream(open_stream, binding.where)


def _async_action(core: Any, action: str, request_stream: bool, response_stream: bool, runtime: Runtime) -> Callable[..., Any]:
    bridge = runtime.bridge_loop
    if bridge is None:
        raise RuntimeError("the thread-pool backend needs a bridge loop for async actions")
    terminal = async_terminal(core.service_class, action, response_stream)
    binding = Binding(core.service_class, core.initkwargs, action, response_stream, terminal, runtime, request_stream)
    entry = entry_point(core.chain(is_async=True), terminal)

    def make_call(request: Any, context: Any) -> RpcCall:
        if request_stream:
            request = _AsyncRequestIterator(request)
            return RpcCall(binding, request, AsyncContext(context, request))
        return RpcCall(binding, request, AsyncContext(context))

    if not response_stream:

        def start(request: Any, context: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(entry(make_call(request, context)), bridge)
            return _wait_future(future, lambda: context.is_active() and bridge.is_running(), loop=bridge)

        return sync_unary(start, binding.where)

    def open_stream(request: Any, context: Any) -> Any:
        call = make_call(request, context)

        def set_writer(write: Any) -> None:  # `await context.write(message)` joins the stream
            getattr(call.context, "transport_context", call.context)._writer = write

        return _iterate_on_loop(bridge, lambda: stream_async(call, entry), context.is_active, set_writer)

    return sync_stream(open_stream, binding.where)

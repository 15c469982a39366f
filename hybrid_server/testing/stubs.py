"""Stubs for tests whose failed calls explain themselves.

`explaining_stub(StubClass, channel)` is `StubClass(channel)` whose methods, when a call fails,
add to the `grpc.RpcError` they raise what the server logged during that call (the server-side
exception and its traceback, `serverlog.explain`). Calls behave as grpc's own: the same
arguments, the same return values and errors; on a `grpc.aio` channel the call objects are thin
wrappers that forward everything (`read`, `write`, `done_writing`, `trailing_metadata()`, ...).

`LoopStub` is for code that makes its stub before it knows the event loop (a `setUp` of a test
whose methods are `async`): each call goes through a `grpc.aio` channel of the loop it runs in.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from hybrid_server.testing.serverlog import SERVER_LOG, explain

_SYNC_KINDS = (grpc.UnaryUnaryMultiCallable, grpc.UnaryStreamMultiCallable,
               grpc.StreamUnaryMultiCallable, grpc.StreamStreamMultiCallable)
_AIO_KINDS = (grpc.aio.UnaryUnaryMultiCallable, grpc.aio.UnaryStreamMultiCallable,
              grpc.aio.StreamUnaryMultiCallable, grpc.aio.StreamStreamMultiCallable)
_STREAMING_RESPONSES = (grpc.UnaryStreamMultiCallable, grpc.StreamStreamMultiCallable)


def explaining_stub(stub_class: Callable[[Any], Any], channel: Any) -> Any:
    """`stub_class(channel)`, its methods wrapped (sync and `grpc.aio` channels alike)."""
    stub = stub_class(channel)
    for name, value in list(vars(stub).items()):
        if isinstance(value, _AIO_KINDS):
            setattr(stub, name, AioMethod(value))
        elif isinstance(value, _SYNC_KINDS):
            setattr(stub, name, SyncMethod(value, isinstance(value, _STREAMING_RESPONSES)))
    return stub


# --------------------------------------------------------------------------- sync channels


class SyncMethod:
    """A sync multi-callable: `__call__`, `with_call`, `future` as grpc's."""

    def __init__(self, method: Any, streaming_response: bool) -> None:
        self._method = method
        self._streaming = streaming_response

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        mark = SERVER_LOG.mark()
        try:
            result = self._method(*args, **kwargs)
        except grpc.RpcError as exc:
            explain(exc, mark)
            raise
        return SyncStream(result, mark) if self._streaming else result

    def with_call(self, *args: Any, **kwargs: Any) -> Any:
        mark = SERVER_LOG.mark()
        try:
            return self._method.with_call(*args, **kwargs)
        except grpc.RpcError as exc:
            explain(exc, mark)
            raise

    def future(self, *args: Any, **kwargs: Any) -> Any:
        mark = SERVER_LOG.mark()
        future = self._method.future(*args, **kwargs)

        def done(finished: Any) -> None:
            error = finished.exception() if not finished.cancelled() else None
            if error is not None:
                explain(error, mark)

        future.add_done_callback(done)
        return future

    def __getattr__(self, name: str) -> Any:
        return getattr(self._method, name)


class SyncStream:
    """A response stream of a sync channel: iterate it; everything else is the call's."""

    def __init__(self, call: Any, mark: int) -> None:
        self._call = call
        self._mark = mark

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._call)
        except grpc.RpcError as exc:
            explain(exc, self._mark)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


# --------------------------------------------------------------------------- grpc.aio channels


class AioMethod:
    """A `grpc.aio` multi-callable; `with_call` added (django-socio-grpc's fakes had it)."""

    def __init__(self, method: Any) -> None:
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> AioCall:
        mark = SERVER_LOG.mark()
        return AioCall(self._method(*args, **kwargs), mark)

    async def with_call(self, *args: Any, **kwargs: Any) -> tuple[Any, AioCall]:
        call = self(*args, **kwargs)
        return await call, call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._method, name)


class AioCall:
    """A `grpc.aio` call: await it, iterate it, `read`/`write`/`done_writing` it."""

    def __init__(self, call: Any, mark: int) -> None:
        self._call = call
        self._mark = mark

    def __await__(self) -> Any:
        try:
            return (yield from self._call.__await__())
        except grpc.RpcError as exc:
            explain(exc, self._mark)
            raise

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._responses()

    async def _responses(self) -> AsyncIterator[Any]:
        try:
            async for response in self._call:
                yield response
        except grpc.RpcError as exc:
            explain(exc, self._mark)
            raise

    async def read(self) -> Any:
        return await self._explained(self._call.read())

    async def write(self, request: Any) -> None:
        await self._explained(self._call.write(request))

    async def done_writing(self) -> None:
        await self._explained(self._call.done_writing())

    async def _explained(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except grpc.RpcError as exc:
            explain(exc, self._mark)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


# --------------------------------------------------------------------------- a stub per loop


class LoopStub:
    """A stub whose calls use a `grpc.aio` channel of the running loop (one per loop, made on the
    first call in it); `close()` closes them all, from any thread."""

    def __init__(self, stub_class: Callable[[Any], Any], target: str) -> None:
        self._stub_class = stub_class
        self._target = target
        self._stubs: dict[asyncio.AbstractEventLoop, tuple[Any, Any]] = {}
        self._guard = threading.Lock()

    def current(self) -> Any:
        """The wrapped stub for the running loop."""
        loop = asyncio.get_running_loop()
        with self._guard:
            made = self._stubs.get(loop)
            if made is None:
                channel = grpc.aio.insecure_channel(self._target)
                made = self._stubs[loop] = (explaining_stub(self._stub_class, channel), channel)
        return made[0]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _LoopMethod(self, name)

    def close(self) -> None:
        with self._guard:
            made, self._stubs = list(self._stubs.items()), {}
        for loop, (_stub, channel) in made:
            close_aio_channel(channel, loop)


class _LoopMethod:
    def __init__(self, owner: LoopStub, name: str) -> None:
        self._owner = owner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._owner.current(), self._name)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self._owner.current(), self._name), name)


def close_aio_channel(channel: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Close a `grpc.aio` channel from outside its loop: in the loop if it still runs, else the
    way its finaliser does (the loop is gone, and its calls with it)."""
    if loop is not None and loop.is_running() and not loop.is_closed():
        try:
            if loop is asyncio.get_running_loop():
                loop.create_task(channel.close())
                return
        except RuntimeError:  # no loop in this thread
            pass
        try:
            asyncio.run_coroutine_threadsafe(channel.close(), loop).result(5)
            return
        except Exception:  # the loop stopped meanwhile: close it the direct way
            pass
    core = getattr(channel, "_channel", None)
    if core is not None and not core.closed():
        core.close()

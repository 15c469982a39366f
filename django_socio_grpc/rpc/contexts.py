"""Context adapters: the transport's context as an action of the other kind sees it.

Each implements `hybrid_server.grpc.context.RpcContext`. `async def` actions on the aio
backend get the transport's own context (grpc.aio's, or an HTTP transport's) unwrapped.
"""
from __future__ import annotations

from typing import Any

import grpc

from django_socio_grpc.rpc.errors import Aborted, RpcOver


class SyncContext:
    """The aio context as seen from a `def` action in a worker thread.

    Made on the loop thread, with `peer()` and the metadata read there. Once the RPC is over
    the loop side closes it: grpc.aio's context is not safe to touch from another thread after
    the call is torn down (it crashes the process), so later calls raise `RpcOver` instead.
    `abort()` raises, to end the RPC with that status.
    """

    __slots__ = ("_context", "_metadata", "_peer", "closed")

    def __init__(self, context: Any) -> None:
        self._context = context
        self._peer = context.peer()
        self._metadata = context.invocation_metadata()
        self.closed = False

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise Aborted(code, details, trailing_metadata)

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> Any:
        return self._metadata

    def is_active(self) -> bool:
        if self.closed:
            return False
        done = getattr(self._context, "done", None)  # grpc.aio's; other transports: cancelled()
        return not (done() if done is not None else self._context.cancelled())

    def write(self, message: Any) -> None:
        raise NotImplementedError("context.write() needs an `async def` action; a `def` action yields its messages")

    def read(self) -> Any:
        raise NotImplementedError("context.read() needs an `async def` action; a `def` action iterates its request")

    def send_initial_metadata(self, metadata: Any) -> None:
        raise NotImplementedError("send_initial_metadata() needs an `async def` action on grpcrunaioserver")

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._context, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.closed:
                raise RpcOver(f"context.{name}() called after the RPC ended")
            return attribute(*args, **kwargs)

        return guarded


class AsyncContext:
    """The thread-pool server's context as seen from an `async def` action on the bridge loop.

    grpc.aio's streaming style works here too: `await write(message)` sends through the RPC's
    bridge (the grpc thread sends what the action writes and yields, in order), `await read()`
    returns the next request message, `grpc.aio.EOF` at the end.
    """

    __slots__ = ("_context", "_requests", "_writer")

    def __init__(self, context: Any, requests: Any = None) -> None:
        self._context = context
        self._requests = requests  # the request stream (an async iterator), if the RPC has one
        self._writer: Any = None  # set by the response stream's bridge

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise Aborted(code, details, trailing_metadata)

    async def write(self, message: Any) -> None:
        if self._writer is None:
            raise RuntimeError("context.write() needs an action declared with response_stream=True")
        await self._writer(message)

    async def read(self) -> Any:
        if self._requests is None:
            raise RuntimeError("context.read() needs an action declared with request_stream=True")
        try:
            return await self._requests.__anext__()
        except StopAsyncIteration:
            return grpc.aio.EOF

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class ThreadContext:
    """The thread-pool server's context for a `def` action: `abort()` raises `Aborted`."""

    __slots__ = ("_context",)

    def __init__(self, context: Any) -> None:
        self._context = context

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise Aborted(code, details, trailing_metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

"""The call object middlewares receive, and how a response stream ends.

`Binding` is what every call of one action under one runtime shares (made once, when the
servicer is bound); `RpcCall` is one RPC: a fresh Service instance, the request, the context.
"""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

from django_socio_grpc.rpc.errors import FINAL, map_exception, passes, rejected
from django_socio_grpc.rpc.http import CallContext, face_of, needs_context_proxy
from hybrid_server.grpc.guard import UndecodableRequest
from hybrid_server.grpc.runtime import Runtime

DIRECT = "direct"  # set (True) on a terminal that only awaits the action: see `terminals.async_terminal`

StreamEnd = Callable[[BaseException | None], Any]


class Binding:
    """One action of one servicer bound to a runtime. `proxy_context`: calls get a `CallContext`
    (GRPC_MIDDLEWARE has middlewares other than the built-in ones, which may look for the request's
    face or set attributes on it through `request.context`)."""

    __slots__ = (
        "action", "controller", "direct", "initkwargs", "new_service", "proxy_context", "response_stream", "runtime",
        "service_class", "streaming", "terminal", "where",
    )

    def __init__(
        self,
        service_class: type,
        initkwargs: dict[str, Any],
        action: str,
        response_stream: bool,
        terminal: Callable[[RpcCall], Any],
        runtime: Runtime,
        request_stream: bool = False,
    ) -> None:
        self.streaming = request_stream or response_stream
        self.service_class = service_class
        self.initkwargs = initkwargs
        self.action = action
        self.response_stream = response_stream
        self.terminal = terminal
        # The terminal only awaits the action (no hooks; `terminals.DIRECT`): a middleware that maps
        # errors itself may await the action directly, one coroutine less.
        self.direct = getattr(terminal, DIRECT, False)
        self.runtime = runtime
        self.controller = service_class.get_controller_name()
        self.where = f"{self.controller}.{action}"
        self.proxy_context = needs_context_proxy()
        self.new_service = _service_factory(service_class, initkwargs)


PLAIN_INIT = "_rpc_plain_init"  # marks `Service.__init__`, which only sets the initkwargs


def _service_factory(service_class: type, initkwargs: dict[str, Any]) -> Callable[[], Any]:
    """What makes the fresh Service of each call: without initkwargs, a class that keeps the
    base `__init__` is only allocated, one Python call less per RPC."""
    if (
        not initkwargs
        and getattr(service_class.__init__, PLAIN_INIT, False)  # type: ignore[misc]
        and service_class.__new__ is object.__new__
        and type(service_class).__call__ is type.__call__  # type: ignore[comparison-overlap]
    ):
        return partial(object.__new__, service_class)
    return partial(service_class, **initkwargs)


class RpcCall:
    """What middleware receives for one RPC (Django middleware's `request`, django-socio-grpc's
    request container).

    `service`, `request` (also `grpc_request`), `context`, `action`; `terminal(call)` runs the hooks
    and the action (the middleware chain is shared by every action of a servicer and ends by
    calling it); `runtime` says how the RPC is served (`runtime.orm_pool`: where its async ORM
    work may borrow a thread). Behind them, an HttpRequest's face (`META` from the invocation
    metadata, `headers`, `COOKIES`, `GET`, `method`, `path`, `user` None...: see `rpc.http`), built
    the first time a middleware looks; middlewares may set attributes (`session`, `user`).
    """

    __slots__ = (
        "__dict__", "action", "context", "direct", "request", "response_stream", "runtime", "service", "service_class",
        "stream_end", "streaming", "terminal",
    )

    def __init__(self, binding: Binding, request: Any, context: Any) -> None:
        if request.__class__ is UndecodableRequest:
            raise rejected(request)
        if binding.proxy_context:
            context = CallContext(context, self.__dict__, binding.controller, binding.action)
        service = binding.new_service()
        service.request = request
        service.context = context
        service.action = binding.action
        self.service = service
        self.service_class = binding.service_class
        self.request = request
        self.context = context
        self.action = binding.action
        self.response_stream = binding.response_stream
        self.streaming = binding.streaming  # a request or a response stream (or both)
        self.terminal = binding.terminal
        self.direct = binding.direct
        self.runtime = binding.runtime
        self.stream_end: list[StreamEnd] | None = None

    @property
    def full_action(self) -> str:
        return f"{self.service_class.get_controller_name()}.{self.action}"

    @property
    def grpc_request(self) -> Any:
        """The request message (or request stream), under django-socio-grpc's name."""
        return self.request

    def __getattr__(self, name: str) -> Any:
        """The HttpRequest face, for what is neither a slot nor set by a middleware."""
        if name.startswith("__") or name in _OWN:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        face = face_of(self.__dict__, self.context, self.service_class.get_controller_name(), self.action)
        return getattr(face, name)

    def on_stream_end(self, callback: StreamEnd) -> None:
        """Run `callback(error)` once the response stream has ended (`error` None on success).

        `error` is the final status (an `Aborted`, or grpc.aio's `AbortError`) or what ended the
        stream otherwise (cancellation, the client gone). Django's streaming responses have
        `close()` for this; a middleware that only needs to act at the end registers here
        instead of wrapping the stream, which would cost a generator hop per message. Callbacks
        of async middleware may return awaitables. They run in the thread (or on the loop)
        that iterated the stream, before the RPC's status is sent.
        """
        if self.stream_end is None:
            self.stream_end = []
        self.stream_end.append(callback)


_OWN = frozenset(RpcCall.__slots__)


def end_stream_sync(call: RpcCall, error: BaseException | None) -> None:
    """Run (once) the end callbacks registered so far."""
    callbacks, call.stream_end = call.stream_end, None
    for callback in callbacks or ():
        callback(error)


async def end_stream_async(call: RpcCall, error: BaseException | None) -> None:
    callbacks, call.stream_end = call.stream_end, None
    for callback in callbacks or ():
        result = callback(error)
        if inspect.isawaitable(result):
            await result


# --------------------------------------------------------------------------- stream runners
# The chain and its response stream, iterated where the stream runs (a worker thread, the
# bridge loop), errors mapped, end callbacks run there with the outcome. (The aio backend's
# `async def` streams do the same inline in their envelope: no extra hop per message.)


def stream_sync(call: RpcCall, chain: Callable[[RpcCall], Any]) -> Iterator[Any]:
    error: BaseException | None = None
    try:
        yield from chain(call)
    except FINAL as exc:
        error = exc
        raise
    except BaseException as exc:
        if passes(exc):  # the consumer closed us, or cancellation
            error = exc
            raise
        error = map_exception(exc)
        raise error from exc
    finally:
        if call.stream_end:
            end_stream_sync(call, error)


async def stream_async(call: RpcCall, chain: Callable[[RpcCall], Any]) -> AsyncIterator[Any]:
    error: BaseException | None = None
    try:
        async for item in await chain(call):
            yield item
    except FINAL as exc:
        error = exc
        raise
    except BaseException as exc:
        if passes(exc):  # the consumer closed us, or cancellation
            error = exc
            raise
        error = map_exception(exc)
        raise error from exc
    finally:
        if call.stream_end:
            await end_stream_async(call, error)

"""From a grpc handler to the user's action: the per-RPC hot path.

One small builder per action shape and backend. The aio backend awaits `async def`
actions directly on the loop (no thread hop) and runs `def` actions in the engine's
executor (one hop, the whole RPC in one worker thread, which owns the DB connection).
The thread-pool backend runs `def` actions in grpc's worker thread and `async def`
actions on a bridge event loop.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import queue
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import grpc
from asgiref.sync import async_to_sync

from django_socio_grpc.errors import Aborted, abort_code_and_details
from django_socio_grpc.services.base_service import Service, is_async_callable

logger = logging.getLogger("django_socio_grpc.request")

AIO = "aio"
THREADS = "threads"


@dataclass(frozen=True)
class ServingMode:
    """How the servicers being built will be called; set by the engine around the hook."""

    backend: str = AIO
    executor: Executor | None = None  # aio: where `def` actions run (None: the loop's default)
    bridge_loop: asyncio.AbstractEventLoop | None = None  # threads: where `async def` actions run
    # Full names ("pkg.FooController") of what the hook registered, for health and reflection.
    registered_services: list[str] = field(default_factory=list)


_serving_mode: contextvars.ContextVar[ServingMode | None] = contextvars.ContextVar(
    "hybrid_serving_mode", default=None
)


def current_serving_mode() -> ServingMode:
    """The engine's mode while its hook runs; outside the engine, plain aio defaults."""
    return _serving_mode.get() or ServingMode()


def set_serving_mode(mode: ServingMode) -> contextvars.Token:
    return _serving_mode.set(mode)


def reset_serving_mode(token: contextvars.Token) -> None:
    _serving_mode.reset(token)


class UndecodableRequest:
    """What a guarded deserializer returns for bytes that are not the expected message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def reject(self) -> "Aborted":
        return Aborted(grpc.StatusCode.INVALID_ARGUMENT, f"request is not a valid {self.message}")


def _guard_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """grpc.aio answers undecodable bytes with UNKNOWN and the parser's error text; the
    thread-pool server with INTERNAL. Guarded, both answer INVALID_ARGUMENT without internals."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)
    name = getattr(getattr(owner, "DESCRIPTOR", None), "full_name", None) or "message"

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            return UndecodableRequest(name)

    return deserialize


class DecodeGuard:
    """The server as `add_*Servicer_to_server` sees it when the registry wires a service:
    every method handler it adds gets a guarded request deserializer."""

    def __init__(self, server: Any) -> None:
        self._server = server

    @staticmethod
    def _guard(handlers: dict[str, Any]) -> None:
        for method, handler in list(handlers.items()):
            deserializer = getattr(handler, "request_deserializer", None)
            if deserializer is not None and not getattr(deserializer, "_guarded", False):
                guarded = _guard_deserializer(deserializer)
                guarded._guarded = True  # type: ignore[union-attr]
                handlers[method] = handler._replace(request_deserializer=guarded)

    def add_generic_rpc_handlers(self, generic_handlers: Any) -> None:
        for generic in generic_handlers:
            handlers = getattr(generic, "_method_handlers", None)
            if isinstance(handlers, dict):
                self._guard(handlers)
        self._server.add_generic_rpc_handlers(generic_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        self._guard(method_handlers)
        self._server.add_registered_method_handlers(service_name, method_handlers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


async def _checked_aiter(requests: Any) -> AsyncIterator[Any]:
    async for item in requests:
        if item.__class__ is UndecodableRequest:
            raise item.reject()
        yield item


def _checked_iter(requests: Any) -> Iterator[Any]:
    for item in requests:
        if item.__class__ is UndecodableRequest:
            raise item.reject()
        yield item


class RpcCall:
    """What middleware receives for one RPC (Django middleware's `request`)."""

    __slots__ = ("service", "request", "context", "action", "service_class", "response_stream", "stream_end")

    def __init__(
        self,
        service_class: type[Service],
        initkwargs: dict[str, Any],
        action: str,
        request: Any,
        context: Any,
        response_stream: bool,
    ) -> None:
        if request.__class__ is UndecodableRequest:
            raise request.reject()
        service = service_class(**initkwargs)
        service.request = request
        service.context = context
        service.action = action
        self.service = service
        self.service_class = service_class
        self.request = request
        self.context = context
        self.action = action
        self.response_stream = response_stream
        self.stream_end: list[Callable[[BaseException | None], Any]] | None = None

    @property
    def full_action(self) -> str:
        return f"{self.service_class.get_controller_name()}.{self.action}"

    def on_stream_end(self, callback: Callable[[BaseException | None], Any]) -> None:
        """Run `callback(error)` once the response stream has ended (`error` None on success).

        Django's streaming responses have `close()` for this; a middleware that only needs to
        act at the end registers here instead of wrapping the stream, which would cost a
        generator hop per message. Callbacks of async middleware may return awaitables.
        """
        if self.stream_end is None:
            self.stream_end = []
        self.stream_end.append(callback)


async def _end_stream_async(call: RpcCall, error: BaseException | None) -> None:
    for callback in call.stream_end or ():
        result = callback(error)
        if inspect.isawaitable(result):
            await result


def _end_stream_sync(call: RpcCall, error: BaseException | None) -> None:
    for callback in call.stream_end or ():
        callback(error)


def _stream_sync(call: RpcCall, stream: Any) -> Iterator[Any]:
    """A sync response stream, then its end callbacks (in the thread that iterated it)."""
    error = None
    try:
        yield from stream
    except BaseException as exc:
        error = exc
        raise
    finally:
        if call.stream_end:
            _end_stream_sync(call, error)


async def _stream_async(call: RpcCall, stream: Any) -> AsyncIterator[Any]:
    error = None
    try:
        async for item in stream:
            yield item
    except BaseException as exc:
        error = exc
        raise
    finally:
        if call.stream_end:
            await _end_stream_async(call, error)


# --------------------------------------------------------------------------- contexts


class RpcOver(RuntimeError):
    """The RPC has ended; its grpc.aio context must not be touched from a worker thread."""


class SyncContext:
    """The aio context as seen from a `def` action in a worker thread.

    Made on the loop thread, with `peer()` and the metadata read there. Once the RPC is over
    the loop side closes it: grpc.aio's context is not safe to touch from another thread after
    the call is torn down (it crashes the process), so later calls raise `RpcOver` instead.
    `abort()` raises, to end the RPC with that status.
    """

    __slots__ = ("_context", "_peer", "_metadata", "closed")

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
        return not self.closed and not self._context.done()

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
    """The thread-pool server's context as seen from an `async def` action."""

    __slots__ = ("_context",)

    def __init__(self, context: Any) -> None:
        self._context = context

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise Aborted(code, details, trailing_metadata)

    async def write(self, message: Any) -> None:
        raise NotImplementedError("context.write() is not available on the thread-pool server; yield instead")

    async def read(self) -> Any:
        raise NotImplementedError("context.read() is not available on the thread-pool server")

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


# --------------------------------------------------------------------------- terminals


NO_HOOK, SYNC_HOOK, ASYNC_HOOK = 0, 1, 2


def _hook_kind(cls: type, name: str) -> int:
    """Decided once per servicer, so the per-RPC path neither calls no-op hooks nor inspects."""
    hook = getattr(cls, name)
    if hook is getattr(Service, name):
        return NO_HOOK
    return ASYNC_HOOK if inspect.iscoroutinefunction(hook) else SYNC_HOOK


def _async_terminal(cls: type[Service], action: str, response_stream: bool) -> Callable[[RpcCall], Awaitable[Any]]:
    before = _hook_kind(cls, "before_action")
    after = _hook_kind(cls, "after_action")

    if not response_stream:

        async def run_unary(call: RpcCall) -> Any:
            service = call.service
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
            return response

        return run_unary

    async def run_stream(call: RpcCall) -> AsyncIterator[Any]:
        service = call.service
        if before == ASYNC_HOOK:
            await service.before_action()
        elif before:
            service.before_action()
        stream = getattr(service, action)(call.request, call.context)
        if inspect.isawaitable(stream):
            stream = await stream
        if not after and hasattr(stream, "__aiter__"):
            return stream
        return _after_async(stream, service)

    async def _after_async(stream: Any, service: Service) -> AsyncIterator[Any]:
        if hasattr(stream, "__aiter__"):
            async for item in stream:
                yield item
        else:
            for item in stream:
                yield item
        if after == ASYNC_HOOK:
            await service.after_action()
        elif after:
            service.after_action()

    return run_stream


def _coroutine_runner(mode: "ServingMode") -> Callable[[Any], Any]:
    """How a worker thread runs an async hook: on the serving loop, not a loop of its own."""
    loop = mode.bridge_loop if mode.backend == THREADS else None
    if loop is None:
        try:
            loop = asyncio.get_running_loop()  # servicers are built on the engine's loop
        except RuntimeError:
            loop = None
    if loop is None:
        return lambda coroutine: async_to_sync(lambda: coroutine)()
    serving_loop = loop

    def run(coroutine: Any) -> Any:
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, serving_loop)
        except RuntimeError:  # the loop has closed: the server is gone
            coroutine.close()
            raise RpcOver("the server stopped before an async hook could run") from None
        return _wait_future(future, serving_loop.is_running)

    return run


def _sync_terminal(cls: type[Service], action: str, response_stream: bool, mode: "ServingMode") -> Callable[[RpcCall], Any]:
    before = _hook_kind(cls, "before_action")
    after = _hook_kind(cls, "after_action")
    run_coroutine = _coroutine_runner(mode) if ASYNC_HOOK in (before, after) else None

    def run_hook(kind: int, hook: Callable[[], Any]) -> None:
        if kind == ASYNC_HOOK:
            run_coroutine(hook())
        else:
            hook()

    if not response_stream:

        def run_unary(call: RpcCall) -> Any:
            service = call.service
            if before:
                run_hook(before, service.before_action)
            response = getattr(service, action)(call.request, call.context)
            if after:
                run_hook(after, service.after_action)
            return response

        return run_unary

    def run_stream(call: RpcCall) -> Iterator[Any]:
        service = call.service
        if before:
            run_hook(before, service.before_action)
        stream = getattr(service, action)(call.request, call.context)
        if not after:
            return iter(stream)
        return _after_sync(stream, service)

    def _after_sync(stream: Any, service: Service) -> Iterator[Any]:
        yield from stream
        run_hook(after, service.after_action)

    return run_stream


# --------------------------------------------------------------------------- middleware


def _build_chain(terminal: Callable[[RpcCall], Any], is_async: bool) -> Callable[[RpcCall], Any]:
    """Wrap `terminal` in GRPC_MIDDLEWARE, outermost first, as Django builds its handler."""
    from asgiref.sync import sync_to_async
    from django.utils.module_loading import import_string

    from django_socio_grpc.settings import grpc_settings

    handler = terminal
    for path in reversed(list(grpc_settings.GRPC_MIDDLEWARE)):
        factory = import_string(path) if isinstance(path, str) else path
        sync_capable = getattr(factory, "sync_capable", True)
        async_capable = getattr(factory, "async_capable", False)
        if is_async and not async_capable:
            inner = async_to_sync(handler)
            handler = sync_to_async(factory(inner), thread_sensitive=False)
        elif not is_async and not sync_capable:
            inner = sync_to_async(handler, thread_sensitive=False)
            handler = async_to_sync(factory(inner))
        else:
            handler = factory(handler)
    return handler


# --------------------------------------------------------------------------- aio backend


async def _abort_aio(context: Any, exc: BaseException, where: str) -> None:
    code, details, trailing = abort_code_and_details(exc, where)
    if trailing:
        context.set_trailing_metadata(trailing)
    await context.abort(code, details)


def _aio_handler(cls: type[Service], initkwargs: dict[str, Any], action: str, spec_stream: tuple[bool, bool], mode: ServingMode) -> Callable[..., Any]:
    request_stream, response_stream = spec_stream
    function = getattr(cls, action)
    where = f"{cls.get_controller_name()}.{action}"
    abort_error = grpc.aio.AbortError

    if is_async_callable(function):
        chain = _build_chain(_async_terminal(cls, action, response_stream), is_async=True)
        if not response_stream:

            async def unary_response(request: Any, context: Any) -> Any:
                try:
                    if request_stream:
                        request = _checked_aiter(request)
                    call = RpcCall(cls, initkwargs, action, request, context, False)
                    return await chain(call)
                except abort_error:
                    raise
                except Exception as exc:
                    await _abort_aio(context, exc, where)

            return unary_response

        async def stream_response(request: Any, context: Any) -> AsyncIterator[Any]:
            call = None
            error: BaseException | None = None
            try:
                if request_stream:
                    request = _checked_aiter(request)
                call = RpcCall(cls, initkwargs, action, request, context, True)
                async for item in await chain(call):
                    yield item
            except abort_error as exc:
                error = exc
                raise
            except Exception as exc:
                error = exc
                await _abort_aio(context, exc, where)
            except BaseException as exc:  # cancelled, or the client went away
                error = exc
                raise
            finally:
                if call is not None and call.stream_end:
                    await _end_stream_async(call, error)

        return stream_response

    # A plain `def` action: the whole RPC runs in one worker thread of the executor.
    chain = _build_chain(_sync_terminal(cls, action, response_stream, mode), is_async=False)
    executor = mode.executor

    def make_call(request: Any, context: SyncContext, loop: asyncio.AbstractEventLoop) -> RpcCall:
        if request_stream:
            request = _SyncRequestIterator(request, loop)
        return RpcCall(cls, initkwargs, action, request, context, response_stream)

    def _sync_stream(call: RpcCall) -> Iterator[Any]:
        return _stream_sync(call, chain(call))

    if not response_stream:

        def run_in_thread(request: Any, context: SyncContext, loop: asyncio.AbstractEventLoop) -> Any:
            return chain(make_call(request, context, loop))

        async def sync_unary_response(request: Any, context: Any) -> Any:
            loop = asyncio.get_running_loop()
            sync_context = SyncContext(context)
            try:
                return await loop.run_in_executor(executor, run_in_thread, request, sync_context, loop)
            except abort_error:
                raise
            except Exception as exc:
                await _abort_aio(context, exc, where)
            finally:
                sync_context.closed = True

        return sync_unary_response

    async def sync_stream_response(request: Any, context: Any) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        sync_context = SyncContext(context)
        try:
            async for item in _iterate_in_thread(executor, loop, lambda: _sync_stream(make_call(request, sync_context, loop))):
                yield item
        except abort_error:
            raise
        except Exception as exc:
            await _abort_aio(context, exc, where)
        finally:
            sync_context.closed = True

    return sync_stream_response


class _SyncRequestIterator:
    """The aio request stream, read from a worker thread."""

    __slots__ = ("_iterator", "_loop")

    def __init__(self, request_iterator: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._iterator = request_iterator.__aiter__()
        self._loop = loop

    def __iter__(self) -> "_SyncRequestIterator":
        return self

    async def _next(self) -> Any:
        return await self._iterator.__anext__()

    def __next__(self) -> Any:
        loop = self._loop
        try:
            item = _wait_future(asyncio.run_coroutine_threadsafe(self._next(), loop), lambda: not loop.is_closed())
        except StopAsyncIteration:
            raise StopIteration from None
        if item.__class__ is UndecodableRequest:
            raise item.reject()
        return item


_DONE = object()
_POLL = 0.2  # seconds between checks that the other side of a bridge is still there


class _Gone(Exception):
    """The other side of a bridge went away (the RPC ended or the loop stopped)."""


def _wait_future(future: Any, still_wanted: Callable[[], bool]) -> Any:
    """`future.result()` that gives up when `still_wanted()` turns false, never blocking for good."""
    while True:
        try:
            return future.result(timeout=_POLL)
        except TimeoutError:
            if not still_wanted():
                future.cancel()
                raise _Gone() from None


async def _iterate_in_thread(
    executor: Executor | None,
    loop: asyncio.AbstractEventLoop,
    make_iterator: Callable[[], Iterator[Any]],
    buffer: int = 16,
) -> AsyncIterator[Any]:
    """Drive a sync iterator (a generator action and its middleware) in ONE worker thread.

    Items cross to the loop with one `call_soon_threadsafe` each; a semaphore of `buffer`
    slots makes a slow client slow the producer instead of buffering the whole stream. When
    the consumer goes away (client gone, grace over) the producer stops at its next item and
    closes the generator in its own thread.
    """
    queue: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
    slots = threading.Semaphore(buffer)
    stop = threading.Event()

    def still_wanted() -> bool:
        return not stop.is_set() and not loop.is_closed()

    def put(kind: Any, value: Any) -> None:
        while not slots.acquire(timeout=_POLL):
            if not still_wanted():
                raise _Gone()
        if not still_wanted():
            raise _Gone()
        loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def produce() -> None:
        iterator = None
        try:
            iterator = make_iterator()
            for item in iterator:
                put(None, item)
            put(_DONE, None)
        except _Gone:
            pass
        except RuntimeError:  # the loop closed under us
            if still_wanted():
                raise
        except BaseException as exc:  # handed to the consumer, which raises it
            try:
                put(exc, None)
            except (_Gone, RuntimeError):
                pass
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    producer = loop.run_in_executor(executor, produce)
    try:
        while True:
            kind, value = await queue.get()
            slots.release()
            if kind is None:
                yield value
            elif kind is _DONE:
                break
            else:
                raise kind
    finally:
        stop.set()
        slots.release(buffer)  # wake a producer waiting for room
        if producer.done() and not producer.cancelled():
            producer.exception()  # retrieved: nothing left unobserved


# --------------------------------------------------------------------------- thread-pool backend


def _abort_sync(context: Any, exc: BaseException, where: str) -> None:
    if isinstance(exc, _Gone):  # the RPC ended, or the bridge loop stopped under it
        context.abort(grpc.StatusCode.UNAVAILABLE, "the server is stopping")
    code, details, trailing = abort_code_and_details(exc, where)
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(code, details)


def _threads_handler(cls: type[Service], initkwargs: dict[str, Any], action: str, spec_stream: tuple[bool, bool], mode: ServingMode) -> Callable[..., Any]:
    request_stream, response_stream = spec_stream
    function = getattr(cls, action)
    where = f"{cls.get_controller_name()}.{action}"

    if not is_async_callable(function):
        chain = _build_chain(_sync_terminal(cls, action, response_stream, mode), is_async=False)
        if not response_stream:

            def unary_response(request: Any, context: Any) -> Any:
                try:
                    if request_stream:
                        request = _checked_iter(request)
                    call = RpcCall(cls, initkwargs, action, request, ThreadContext(context), False)
                    return chain(call)
                except Exception as exc:
                    _abort_sync(context, exc, where)

            return unary_response

        def stream_response(request: Any, context: Any) -> Iterator[Any]:
            try:
                if request_stream:
                    request = _checked_iter(request)
                call = RpcCall(cls, initkwargs, action, request, ThreadContext(context), True)
                yield from _stream_sync(call, chain(call))
            except Exception as exc:
                _abort_sync(context, exc, where)

        return stream_response

    # An `async def` action: run it on the bridge loop, this grpc thread waiting for it.
    chain = _build_chain(_async_terminal(cls, action, response_stream), is_async=True)
    bridge = mode.bridge_loop
    if bridge is None:
        raise RuntimeError("the thread-pool backend needs a bridge loop for async actions")

    def make_call(request: Any, context: Any) -> RpcCall:
        if request_stream:
            request = _AsyncRequestIterator(request)
        return RpcCall(cls, initkwargs, action, request, AsyncContext(context), response_stream)

    if not response_stream:

        def async_unary_response(request: Any, context: Any) -> Any:
            try:
                call = make_call(request, context)
                future = asyncio.run_coroutine_threadsafe(chain(call), bridge)
                return _wait_future(future, lambda: context.is_active() and bridge.is_running())
            except Exception as exc:
                _abort_sync(context, exc, where)

        return async_unary_response

    def async_stream_response(request: Any, context: Any) -> Iterator[Any]:
        try:
            call = make_call(request, context)
            async def start() -> AsyncIterator[Any]:
                return _stream_async(call, await chain(call))

            yield from _iterate_on_loop(bridge, start, context.is_active)
        except Exception as exc:
            _abort_sync(context, exc, where)

    return async_stream_response


def _iterate_on_loop(
    loop: asyncio.AbstractEventLoop,
    make_stream: Callable[[], Awaitable[Any]],
    is_active: Callable[[], bool],
    buffer: int = 16,
) -> Iterator[Any]:
    """Consume an async stream (action and middleware) in ONE task on `loop`, from this thread.

    One task keeps the stream's context variables valid from first item to last. Items come
    through a thread-safe queue; the task waits for room (`buffer` slots), so a slow client
    slows the stream. When the RPC ends early (client gone, grace over) or the loop stops, the
    task is cancelled and this thread is released.
    """
    items: "queue.SimpleQueue[tuple[Any, Any]]" = queue.SimpleQueue()
    room: asyncio.Semaphore | None = None

    async def pump() -> None:
        nonlocal room
        room = asyncio.Semaphore(buffer)
        try:
            stream = await make_stream()
            async for item in stream:
                await room.acquire()
                items.put((None, item))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            items.put((exc, None))
            return
        items.put((_DONE, None))

    def give_room() -> None:
        if room is not None:
            room.release()

    task = asyncio.run_coroutine_threadsafe(pump(), loop)
    try:
        while True:
            try:
                kind, value = items.get(timeout=_POLL)
            except queue.Empty:
                if not (is_active() and loop.is_running()):
                    raise _Gone() from None
                continue
            if kind is None:
                loop.call_soon_threadsafe(give_room)
                yield value
            elif kind is _DONE:
                return
            else:
                raise kind
    finally:
        if not task.done() and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


class _AsyncRequestIterator:
    """The thread-pool server's request iterator, read from the bridge loop."""

    __slots__ = ("_iterator",)

    def __init__(self, request_iterator: Iterator[Any]) -> None:
        self._iterator = iter(request_iterator)

    def __aiter__(self) -> "_AsyncRequestIterator":
        return self

    async def __anext__(self) -> Any:
        loop = asyncio.get_running_loop()
        item = await loop.run_in_executor(None, next, self._iterator, _DONE)
        if item is _DONE:
            raise StopAsyncIteration
        if item.__class__ is UndecodableRequest:
            raise item.reject()
        return item


# --------------------------------------------------------------------------- servicer


def build_servicer(cls: type[Service], initkwargs: dict[str, Any]) -> Any:
    """An object with one handler attribute per action, as `add_*Servicer_to_server` expects."""
    mode = current_serving_mode()
    build = _threads_handler if mode.backend == THREADS else _aio_handler
    handlers = {
        name: build(cls, initkwargs, name, (spec.request_stream, spec.response_stream), mode)
        for name, spec in cls.get_grpc_actions().items()
    }
    servicer_class = type(f"{cls.get_controller_name()}Servicer", (), {})
    servicer = servicer_class()
    for name, handler in handlers.items():
        setattr(servicer, name, handler)
    servicer.service_class = cls
    return servicer

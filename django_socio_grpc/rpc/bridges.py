"""Crossing between an event loop and worker threads, never blocking for good.

Every wait polls (`_POLL`) whether the other side is still there, so a gone client, a
stopped loop or the end of the grace period releases the thread that waits.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin before 3.11
from typing import Any

import grpc
from asgiref.sync import async_to_sync

from django_socio_grpc.rpc.capacity import StreamIdle, StreamWorkers
from django_socio_grpc.rpc.errors import Aborted, ClientCancelled, RpcOver, rejected
from hybrid_server.grpc.guard import UndecodableRequest
from hybrid_server.grpc.runtime import THREADS, Runtime

_DONE = object()
_POLL = 0.2  # seconds between checks that the other side of a bridge is still there


class _Gone(Aborted):
    """The other side of a bridge went away (the RPC ended or the loop stopped)."""

    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.UNAVAILABLE, "the server is stopping")


def _given_up(loop: asyncio.AbstractEventLoop | None) -> Aborted:
    """Why a wait stopped: the loop on the other side stopped, or (it still runs) the RPC ended,
    its client gone or its deadline passed (CANCELLED, logged as such, not "server stopping")."""
    if loop is not None and loop.is_running():
        return ClientCancelled("the call ended before the action did (client gone or deadline passed)")
    return _Gone()


def _wait_future(
    future: Any, still_wanted: Callable[[], bool], idle: float | None = None, loop: asyncio.AbstractEventLoop | None = None
) -> Any:
    """`future.result()` that gives up when `still_wanted()` turns false, never blocking for good;
    with `idle`, also once it waited that long (counted in polls: no clock read per call). A
    future of `loop` is not cancelled once that loop has closed (its callback would fail there)."""
    waited = 0.0
    while True:
        try:
            return future.result(timeout=_POLL)
        except FutureTimeout:
            if not still_wanted():
                if loop is None or not loop.is_closed():
                    future.cancel()
                raise _given_up(loop) from None
            waited += _POLL
            if idle is not None and waited >= idle:
                future.cancel()
                raise StreamIdle(idle, "sent nothing") from None


def coroutine_runner(runtime: Runtime) -> Callable[[Any], Any]:
    """How a worker thread runs an async hook: on the serving loop, not a loop of its own.

    The thread-pool backend's bridge loop; on the aio backend the loop that binds the servicer
    (the engine's, which runs the hook); without one, asgiref's `async_to_sync`.
    """
    loop = runtime.bridge_loop if runtime.backend == THREADS else None
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
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
        return _wait_future(future, serving_loop.is_running, loop=serving_loop)

    return run


# --------------------------------------------------------------------------- loop -> thread


async def _iterate_in_thread(
    executor: Executor | None,
    loop: asyncio.AbstractEventLoop,
    make_iterator: Callable[[], Iterator[Any]],
    workers: StreamWorkers | None = None,
    buffer: int = 16,
) -> AsyncIterator[Any]:
    """Drive a sync iterator (a generator action and its middleware) in ONE worker thread.

    Items cross to the loop with one `call_soon_threadsafe` each; a semaphore of `buffer`
    slots makes a slow client slow the producer instead of buffering the whole stream. When
    the consumer goes away (client gone, grace over) the producer stops at its next item and
    closes the generator in its own thread. With `workers` (`capacity`), the thread is one of
    the stream workers, waited for here without holding a thread; a producer that waits for room
    longer than their idle timeout ends the stream with `StreamIdle`.
    """
    items: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
    slots = threading.Semaphore(buffer)
    stop = threading.Event()
    idle = workers.idle_timeout if workers is not None else None

    def still_wanted() -> bool:
        return not stop.is_set() and not loop.is_closed()

    def put(kind: Any, value: Any) -> None:
        waited = 0.0
        while not slots.acquire(timeout=_POLL):
            if not still_wanted():
                raise _Gone()
            waited += _POLL
            if idle is not None and waited >= idle:
                raise StreamIdle(idle, "took no message")
        if not still_wanted():
            raise _Gone()
        loop.call_soon_threadsafe(items.put_nowait, (kind, value))

    def produce() -> None:
        iterator = None
        try:
            iterator = make_iterator()
            for item in iterator:
                put(None, item)
            put(_DONE, None)
        except _Gone:
            pass
        except StreamIdle as exc:  # no room to wait for: past the buffer, straight to the consumer
            if still_wanted():
                loop.call_soon_threadsafe(items.put_nowait, (exc, None))
        except RuntimeError:  # the loop closed under us
            if still_wanted():
                raise
        except BaseException as exc:  # handed to the consumer, which raises it
            try:
                put(exc, None)
            except (_Gone, StreamIdle, RuntimeError):
                pass
        finally:
            try:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            finally:
                if workers is not None:
                    workers.give()

    if workers is not None:
        await workers.take()
    try:
        producer = loop.run_in_executor(executor, produce)
    except BaseException:
        if workers is not None:
            workers.give()
        raise
    try:
        while True:
            kind, value = await items.get()
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


class _SyncRequestIterator:
    """The aio request stream, read from a worker thread; raises `ClientCancelled` where grpc.aio
    would end it as if the client had half-closed (see `_aio_cut`). `task`: the RPC's task."""

    __slots__ = ("_context", "_idle", "_iterator", "_loop", "_task")

    def __init__(
        self, request_iterator: Any, loop: asyncio.AbstractEventLoop, context: Any, task: Any, idle: float | None = None
    ) -> None:
        self._iterator = request_iterator.__aiter__()
        self._loop = loop
        self._context = context
        self._task = task
        self._idle = idle  # STREAM_IDLE_TIMEOUT: how long the thread waits for the next message

    def __iter__(self) -> _SyncRequestIterator:
        return self

    async def _next(self) -> Any:
        try:
            return await self._iterator.__anext__()
        except StopAsyncIteration:
            if await _aio_cut(self._context, self._task):
                raise ClientCancelled() from None
            raise

    def __next__(self) -> Any:
        loop = self._loop
        try:
            future = asyncio.run_coroutine_threadsafe(self._next(), loop)
            item = _wait_future(future, lambda: not loop.is_closed(), self._idle, loop)
        except StopAsyncIteration:
            raise StopIteration from None
        if item.__class__ is UndecodableRequest:
            raise rejected(item)
        return item


# --------------------------------------------------------------------------- thread -> loop


def _iterate_on_loop(
    loop: asyncio.AbstractEventLoop,
    make_stream: Callable[[], AsyncIterator[Any]],
    is_active: Callable[[], bool],
    set_writer: Callable[[Callable[[Any], Any]], None] | None = None,
    buffer: int = 16,
) -> Iterator[Any]:
    """Consume an async stream (action and middleware) in ONE task on `loop`, from this thread.

    One task keeps the stream's context variables valid from first item to last. Items come
    through a thread-safe queue; the task waits for room (`buffer` slots), so a slow client
    slows the stream. When the RPC ends early (client gone, grace over) or the loop stops, the
    task is cancelled and this thread is released. `set_writer` receives the coroutine function
    that sends one message the same way (`context.write()`, grpc.aio's style).
    """
    items: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
    room: asyncio.Semaphore | None = None

    async def write(message: Any) -> None:
        assert room is not None
        await room.acquire()
        items.put((None, message))

    async def pump() -> None:
        nonlocal room
        room = asyncio.Semaphore(buffer)
        if set_writer is not None:
            set_writer(write)
        stream = make_stream()
        try:
            async for item in stream:
                await room.acquire()
                items.put((None, item))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            items.put((exc, None))
            return
        finally:
            # Closed here, in this task and its Context (its end callbacks too), not later by
            # the loop's finalizer in a task of its own when cancelled while waiting for room.
            await stream.aclose()
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
                    raise _given_up(loop) from None
                if task.done() and items.empty():  # ended without a word: cancelled on the loop
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
    """The thread-pool server's request iterator, read from the bridge loop; raises
    `ClientCancelled` when the client cancelled (see `_sync_cut`)."""

    __slots__ = ("_iterator",)

    def __init__(self, request_iterator: Iterator[Any]) -> None:
        self._iterator = iter(request_iterator)

    def __aiter__(self) -> _AsyncRequestIterator:
        return self

    async def __anext__(self) -> Any:
        loop = asyncio.get_running_loop()
        try:
            item = await loop.run_in_executor(None, next, self._iterator, _DONE)
            if item is _DONE:
                await loop.run_in_executor(None, _sync_cut, self._iterator)
                raise StopAsyncIteration
        except grpc.RpcError:  # grpc's request iterator, once the client cancelled
            raise ClientCancelled() from None
        if item.__class__ is UndecodableRequest:
            raise rejected(item)
        return item


# --------------------------------------------------------------------------- request checks
# Request streams served without a bridge: each message checked for an undecodable one, and a
# stream the client cancelled raises instead of ending as if the client had half-closed.
#
# Neither grpc tells the two apart when the stream ends: a cancelled call's pending read fails,
# and both grpc.aio and grpc's thread-pool server take that for the end of the stream, learning of
# the cancellation only from a completion that may come later. One more read, then a few passes
# of the loop, settle it: the read goes through grpc's completion queue, where the cancellation's
# completion almost always comes first; but grpc does not order the two, and under load the
# cancellation's completion was seen coming right behind the read's, in the same batch or the
# next one (the action then took a cut upload for a finished one: about 1 cut in 150 on a
# loaded 2-core machine). The passes let grpc.aio deliver a cancellation it already has (to the
# RPC's task) before the end is reported. A cancellation that grpc core itself delivers later
# still than that cannot be told from a half-close. It costs one read and `_SETTLE` loop passes
# per request stream, at its end; nothing per message. (The thread-pool server: as an RpcError.)

_SETTLE = 3  # loop passes: one for a completion in the read's batch, two more for the next batch


def _cancelling(task: Any) -> bool:
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None:
        return bool(cancelling())
    return task.done() or bool(getattr(task, "_must_cancel", False))


async def _aio_cut(context: Any, task: Any) -> bool:
    """True if the grpc.aio request stream that just ended was cancelled, not half-closed. Called
    in the RPC's task (`task` None), a cancellation is raised there by grpc.aio itself."""
    read = getattr(context, "read", None)
    if read is None:  # another transport's context: it knows
        return bool(context.cancelled())
    await read()
    watched = task if task is not None else asyncio.current_task()
    if watched is None:  # not in a task: nothing to wait for
        return bool(context.cancelled())
    for _ in range(_SETTLE):
        if _cancelling(watched):
            break
        await asyncio.sleep(0)  # in the RPC's task, a delivered cancellation raises here
    return _cancelling(watched) or (task is None and bool(context.cancelled()))


def _sync_cut(iterator: Iterator[Any]) -> None:
    """Raises grpc's RpcError if the thread-pool server's request stream that just ended was
    cancelled (a read after the end: None again, or the error)."""
    next(iterator, None)


async def checked_aiter(requests: Any, context: Any) -> AsyncIterator[Any]:
    async for item in requests:
        if item.__class__ is UndecodableRequest:
            raise rejected(item)
        yield item
    if await _aio_cut(context, None):  # grpc.aio raises CancelledError in the probe instead
        raise ClientCancelled()


def checked_iter(requests: Any) -> Iterator[Any]:
    iterator = iter(requests)
    try:
        for item in iterator:
            if item.__class__ is UndecodableRequest:
                raise rejected(item)
            yield item
        _sync_cut(iterator)
    except grpc.RpcError:  # grpc's request iterator, once the client cancelled
        raise ClientCancelled() from None

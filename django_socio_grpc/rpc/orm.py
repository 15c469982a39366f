"""The thread an `async def` RPC's thread-sensitive work (the async ORM) runs on.

Each RPC is a thread-sensitive context, as Django's ASGI handler makes each request one: every
`sync_to_async` call the RPC makes runs on one thread, as Django's connection handling requires.
That thread is borrowed from the engine's pool (`--max-workers`) on the first call and given back
when the RPC ends, so the pool bounds blocking ORM work of async actions as it does for `def`
actions; outside the engine it is a thread of its own. An RPC that never touches the database
borrows nothing and pays no thread hop.

asgiref finds a context's thread through a class-wide table (`context_to_thread_executor`, a
WeakKeyDictionary) that an entry per RPC would cost more than the rest of a small RPC. So one
context, `ROUTER`, is registered there once, for good; an RPC sets it as asgiref's current
thread-sensitive context and itself as the current `RpcThread` (two context variables, which
the tasks the RPC starts inherit), and `ROUTER` hands each call to the RPC it came from, which
starts its thread on the first one.

A streaming RPC keeps its thread until the stream ends: with stream workers (`rpc.capacity`) the
thread is one of them, and its ORM calls wait (holding no thread) until one is free, so idle
streams cannot take the threads unary calls need.
"""
from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.core import signals
from django.core.cache import caches, close_caches
from django.core.cache.backends.base import BaseCache
from django.db import close_old_connections, reset_queries
from django.db.backends.signals import connection_created
from django.utils.module_loading import import_string

from django_socio_grpc.rpc.capacity import StreamWorkers, stream_workers

_CURRENT: contextvars.ContextVar[RpcThread] = contextvars.ContextVar("django_socio_grpc_rpc_thread")


class _Router(ThreadSensitiveContext, Executor):
    """The one thread-sensitive context of every RPC: its executor is itself, and each call it
    gets goes to the RPC (`RpcThread`) of the Context it is made in."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        rpc_thread = _CURRENT.get(None)
        if rpc_thread is None:  # the variable is only ever set together with this context
            return SyncToAsync.single_thread_executor.submit(fn, *args, **kwargs)
        return rpc_thread.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # each RPC ends its own thread (RpcThread.finish/leave)


ROUTER = _Router()
_SENSITIVE = SyncToAsync.thread_sensitive_context  # asgiref's variable


def register() -> None:
    """Make sure asgiref knows `ROUTER` (done at import; again whenever a chain is built)."""
    SyncToAsync.context_to_thread_executor[ROUTER] = ROUTER


register()


class RpcThread:
    """The thread-sensitive work of one RPC. `pool`: where to borrow the thread (None: a thread of
    its own); `streaming`: the thread is one of the pool's stream workers. An `Executor` (duck
    typed: `submit`)."""

    __slots__ = ("_left", "_orphans", "_own_pool", "_pool", "_queue", "_streaming", "_tokens", "_waiting", "_workers")

    def __init__(self, pool: Executor | None, streaming: bool = False) -> None:
        self._pool = pool
        self._streaming = streaming and pool is not None
        self._queue: queue.SimpleQueue[Any] | None = None
        self._left = False
        self._waiting = False
        self._workers: StreamWorkers | None = None
        self._own_pool: Executor | None = None
        self._orphans: Executor | None = None
        # Made when the RPC starts: the current context's RPC thread from now on (asgiref's
        # variable and ours); `leave()` resets both.
        self._tokens = (_SENSITIVE.set(ROUTER), _CURRENT.set(self))

    @property
    def used(self) -> bool:
        return self._queue is not None

    async def finish(self) -> None:
        """`request_finished` in the RPC's thread, if it had one; then give the thread back."""
        try:
            if self._queue is not None and not self._left:
                await asyncio.get_running_loop().run_in_executor(self, request_finished)  # type: ignore[arg-type]
        finally:
            self.leave()

    def after(self, call: Any) -> Awaitable[None] | None:
        """The RPC's action returned: what its end needs, to be awaited if not None (the thread
        was used: `finish()`); a response stream's end does it then."""
        if call.response_stream:
            call.on_stream_end(lambda error: self.finish())
            return None
        if self._queue is not None:
            return self.finish()
        self.leave()
        return None

    def leave(self) -> None:
        """Give the thread back, then leave the context; once, from any Context.

        grpc.aio closes a cancelled (or expired) stream's generator from a task of its own, whose
        Context is not the one the RpcThread was made in: resetting the tokens there raises. So
        the thread is released first, and the reset is only attempted (the Context they were set
        in ends with the RPC's task anyway).
        """
        if self._left:
            return
        self._left = True
        if self._queue is not None:
            if self._waiting and self._workers is not None and self._workers.forget(self._granted):
                self._waiting = False  # never started: nothing to give back
            self._queue.put(None)
            if self._own_pool is not None:
                self._own_pool.shutdown(wait=False)
        try:
            _SENSITIVE.reset(self._tokens[0])
            _CURRENT.reset(self._tokens[1])
        except ValueError:  # "created in a different Context"
            pass

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._left:  # a task the RPC started outlived it: a thread of its own, as asgiref gives it
            if self._orphans is None:
                self._orphans = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grpc-rpc")
            return self._orphans.submit(fn, *args, **kwargs)
        future: Future = Future()
        if self._queue is None:
            self._start()
        assert self._queue is not None
        self._queue.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # the RPC ends it, in finish()/leave()

    def _start(self) -> None:
        self._queue = work = queue.SimpleQueue()
        pool = self._pool
        self._workers = workers = stream_workers(pool) if self._streaming else None
        if pool is None:
            pool = self._own_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grpc-rpc")
            pool.submit(_work, work, None)
        elif workers is None:
            pool.submit(_work, work, None)
        elif workers.take_or_wait(self._granted):
            pool.submit(_work, work, workers)
        else:
            self._waiting = True  # the work queues up meanwhile

    def _granted(self) -> None:
        """A stream worker was handed over (in the thread that gave it back): start."""
        self._waiting = False
        assert self._pool is not None and self._workers is not None
        try:
            self._pool.submit(_work, self._queue, self._workers)
        except RuntimeError:  # the pool has shut down: the server is gone
            self._workers.give()


def _work(work: queue.SimpleQueue[Any], workers: StreamWorkers | None) -> None:
    try:
        while (item := work.get()) is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)
    finally:
        if workers is not None:
            workers.give()


def request_started() -> None:
    signals.request_started.send(sender=None)


def request_finished() -> None:
    signals.request_finished.send(sender=None)


# --------------------------------------------------------------------------- def actions
# `request_started` / `request_finished` around a `def` action, in its thread, skipped when they
# could do nothing: Django's own receivers (reset_queries, close_old_connections, close_caches)
# only act on the database connections and caches this thread has opened, so in a thread that
# never connected to a database (Django's `connection_created`) and holds no cache whose backend
# closes anything, with no receivers but Django's, a send changes nothing. It would cost about a
# tenth of a small RPC on grpc's thread-pool server.

_THREAD = threading.local()


def _connected(sender: Any, connection: Any, **kwargs: Any) -> None:
    _THREAD.connected = True


connection_created.connect(_connected, weak=False, dispatch_uid="django_socio_grpc.rpc.orm")

_DJANGO_STARTED = frozenset({(id(reset_queries), id(None)), (id(close_old_connections), id(None))})
_DJANGO_FINISHED = frozenset({(id(close_old_connections), id(None)), (id(close_caches), id(None))})
_CLOSES: dict[str, bool] = {}  # cache backend path -> its close() does something


def _only_django(signal: Any, django_receivers: frozenset[Any]) -> bool:
    receivers = signal.receivers
    return len(receivers) <= len(django_receivers) and all(receiver[0] in django_receivers for receiver in receivers)


def _closing_caches() -> bool:
    """True if a cache this thread holds has a backend whose close() does something."""
    closing = False
    for config in caches.settings.values():
        backend = config.get("BACKEND", "")
        closes = _CLOSES.get(backend)
        if closes is None:
            try:
                closes = _CLOSES[backend] = import_string(backend).close is not BaseCache.close
            except ImportError:
                closes = True
        closing = closing or closes
    return closing and any(type(cache).close is not BaseCache.close for cache in caches.all(initialized_only=True))


def request_started_in_thread() -> None:
    if getattr(_THREAD, "connected", False) or not _only_django(signals.request_started, _DJANGO_STARTED):
        signals.request_started.send(sender=None)


def request_finished_in_thread() -> None:
    if (getattr(_THREAD, "connected", False) or not _only_django(signals.request_finished, _DJANGO_FINISHED)
            or _closing_caches()):
        signals.request_finished.send(sender=None)

"""What idle or slow streaming clients may take of a server's worker threads (`--max-workers`).

A streaming RPC that holds a worker thread holds it as long as its client keeps the stream open:
a `def` streaming action (it runs in the thread from first message to last), an `async def`
streaming action once its ORM calls borrowed the RPC's thread (grpcrunaioserver), and every
streaming RPC on grpcrunserver (grpc's thread waits for it). A dozen clients that open such
streams and then send nothing would take every thread. Two limits keep that from happening:

- MAX_STREAM_WORKERS (default None: half of --max-workers, at least 1): the most worker threads
  streaming RPCs hold at once; the rest is kept for unary calls and async ORM work. On
  grpcrunaioserver a stream past the limit waits for a stream worker without holding a thread
  (its deadline still runs); on grpcrunserver, where a waiting call would hold one of grpc's
  threads, it is refused at once with RESOURCE_EXHAUSTED.
- STREAM_IDLE_TIMEOUT (default 60 seconds, None: off), grpcrunaioserver: a `def` streaming action
  whose client sends nothing (or takes no message) for that long ends with DEADLINE_EXCEEDED and
  its thread is free again. Measured on the waits that already poll (`bridges._POLL`): nothing is
  added per message.
"""
from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc
from django.core.exceptions import ImproperlyConfigured

from django_socio_grpc.rpc.errors import Aborted
from django_socio_grpc.settings import grpc_settings

DEFAULT_IDLE_TIMEOUT = 60.0


class StreamIdle(Aborted):
    """A stream's client sent nothing, or took nothing, for STREAM_IDLE_TIMEOUT seconds."""

    def __init__(self, timeout: float, what: str) -> None:
        super().__init__(grpc.StatusCode.DEADLINE_EXCEEDED, f"the client {what} for {timeout:g}s (STREAM_IDLE_TIMEOUT)")


class StreamsRefused(Aborted):
    def __init__(self, limit: int) -> None:
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, f"all {limit} stream workers are busy (MAX_STREAM_WORKERS)")


class StreamWorkers:
    """How many worker threads streaming RPCs hold; thread-safe. A waiter is a callback run (in
    the thread that gives a worker back) once it has one."""

    def __init__(self, limit: int, idle_timeout: float | None) -> None:
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.busy = 0
        self._lock = threading.Lock()
        self._waiters: deque[Callable[[], None]] = deque()

    def try_take(self) -> bool:
        with self._lock:
            if self.busy < self.limit:
                self.busy += 1
                return True
            return False

    def take_or_wait(self, granted: Callable[[], None]) -> bool:
        """True if taken now; else `granted()` runs once a worker is handed over (see `forget`)."""
        with self._lock:
            if self.busy < self.limit:
                self.busy += 1
                return True
            self._waiters.append(granted)
            return False

    def forget(self, granted: Callable[[], None]) -> bool:
        """Withdraw a waiter; False if it was already handed a worker (it must give it back)."""
        with self._lock:
            try:
                self._waiters.remove(granted)
            except ValueError:
                return False
            return True

    def give(self) -> None:
        with self._lock:
            if not self._waiters:
                self.busy -= 1
                return
            granted = self._waiters.popleft()  # the worker goes on to the waiter: busy unchanged
        granted()

    async def take(self) -> None:
        """On an event loop: wait (holding no thread) until a worker is ours."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def granted() -> None:
            loop.call_soon_threadsafe(_hand_over, future, self)

        if self.take_or_wait(granted):
            return
        try:
            await future
        except BaseException:  # cancelled, or the stream waiting here was closed
            if not self.forget(granted):
                if future.done() and not future.cancelled():
                    self.give()  # handed over just as we were cancelled
                else:
                    future.cancel()  # handed over, not delivered yet: _hand_over gives it back
            raise


def _hand_over(future: asyncio.Future[None], workers: StreamWorkers) -> None:
    if future.cancelled():
        workers.give()  # the waiter went away meanwhile: the next one gets it
    else:
        future.set_result(None)


_BY_POOL: weakref.WeakKeyDictionary[Any, StreamWorkers] = weakref.WeakKeyDictionary()
_BY_POOL_LOCK = threading.Lock()


def _limit(max_workers: int) -> int:
    value = grpc_settings.MAX_STREAM_WORKERS
    if value is None:
        return max(1, max_workers // 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"GRPC_FRAMEWORK['MAX_STREAM_WORKERS'] must be None or an integer >= 1, not {value!r}")
    return value


def _idle_timeout() -> float | None:
    value = grpc_settings.STREAM_IDLE_TIMEOUT
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ImproperlyConfigured(
            f"GRPC_FRAMEWORK['STREAM_IDLE_TIMEOUT'] must be None or a number of seconds > 0, not {value!r}"
        )
    return float(value)


def stream_workers(pool: Any) -> StreamWorkers | None:
    """The stream workers of the server whose worker pool is `pool` (None: no pool of ours, no limit).
    Made when the first streaming action of that server is bound: settings are read then."""
    max_workers = getattr(pool, "_max_workers", None)
    if pool is None or not isinstance(max_workers, int):
        return None
    with _BY_POOL_LOCK:
        workers = _BY_POOL.get(pool)
        if workers is None:
            workers = _BY_POOL[pool] = StreamWorkers(_limit(max_workers), _idle_timeout())
        return workers

"""The engine's thread pools, which know how much work they are running.

At exit the question is not "which threads exist" (idle pool workers of asgiref, of exporters,
of the caller's own executors are harmless: `concurrent.futures` ends them at exit) but "is user
code still running past the grace period": only then is leaving without waiting right.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_pools: weakref.WeakSet[CountingExecutor] = weakref.WeakSet()


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._running = 0
        self._count_lock = threading.Lock()
        _pools.add(self)

    @property
    def running(self) -> int:
        return self._running

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(self._counted, fn, args, kwargs)

    def _counted(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._count_lock:
            self._running += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with self._count_lock:
                self._running -= 1


def running_work() -> int:
    """Work items running right now in any of the engine's pools."""
    return sum(pool.running for pool in list(_pools))

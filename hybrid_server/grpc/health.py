"""grpc's health servicers, with watchers ended at stop.

`Watch` streams (held open by Envoy and by gRPC client-side health checking) are active RPCs:
left alone, every stop would wait the full grace for them. On a drain they receive NOT_SERVING
(`enter_graceful_shutdown`); when the server stops, `end_watches()` ends them with OK, so the
process leaves as soon as the real work is done. A `Watch` opened after that gets its status
and ends at once.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from grpc_health.v1 import health, health_pb2


class AioHealth(health.aio.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self._watches: set[asyncio.Task[Any]] = set()
        self._ending: set[asyncio.Task[Any]] = set()
        self._ended = False

    async def Watch(self, request: Any, context: Any) -> None:
        if self._ended:
            await context.write(health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING))
            return
        task = asyncio.current_task()
        assert task is not None
        self._watches.add(task)
        try:
            await super().Watch(request, context)
        except asyncio.CancelledError:
            if task not in self._ending:
                raise
            if hasattr(task, "uncancel"):  # ended by the stop, not by the client: finish with OK
                task.uncancel()
        finally:
            self._watches.discard(task)
            self._ending.discard(task)

    def end_watches(self) -> None:
        self._ended = True
        for task in list(self._watches):
            self._ending.add(task)
            task.cancel()


class ThreadsHealth(health.HealthServicer):
    def __init__(self) -> None:
        super().__init__(experimental_non_blocking=True)
        self._ends: dict[int, Callable[[], None]] = {}
        self._ended = False

    def Watch(self, request: Any, context: Any, send_response_callback: Any = None) -> Any:
        watcher = super().Watch(request, context, send_response_callback)
        if send_response_callback is not None:
            end: Callable[[], None] = lambda: send_response_callback(None)
        else:
            end = watcher.close
        if self._ended:
            end()
        else:
            key = id(end)
            self._ends[key] = end
            context.add_callback(lambda: self._ends.pop(key, None))
        return watcher

    def end_watches(self) -> None:
        self._ended = True
        for end in list(self._ends.values()):
            end()
        self._ends.clear()

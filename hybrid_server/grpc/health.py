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

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class _Observed:
    """A watcher's context that tells when NOT_SERVING has been written to it."""

    __slots__ = ("_context", "not_serving")

    def __init__(self, context: Any) -> None:
        self._context = context
        self.not_serving = asyncio.Event()

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        if message.status == NOT_SERVING:
            self.not_serving.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class AioHealth(health.aio.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self._watches: dict[asyncio.Task[Any], _Observed] = {}
        self._ending: set[asyncio.Task[Any]] = set()
        self._ended = False

    async def Watch(self, request: Any, context: Any) -> None:
        if self._ended:
            await context.write(health_pb2.HealthCheckResponse(status=NOT_SERVING))
            return
        task = asyncio.current_task()
        assert task is not None
        observed = self._watches[task] = _Observed(context)
        try:
            await super().Watch(request, observed)
        except asyncio.CancelledError:
            if task not in self._ending:
                raise
            if hasattr(task, "uncancel"):  # ended by the stop, not by the client: finish with OK
                task.uncancel()
        finally:
            self._watches.pop(task, None)
            self._ending.discard(task)

    async def end_watches(self, patience: float = 1.0) -> None:
        """Once each watcher has been sent NOT_SERVING (for at most `patience` seconds), end it."""
        self._ended = True
        waits = [asyncio.ensure_future(observed.not_serving.wait()) for observed in self._watches.values()]
        if waits:
            _done, pending = await asyncio.wait(waits, timeout=patience)
            for wait in pending:
                wait.cancel()
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

    async def end_watches(self) -> None:
        """NOT_SERVING was sent to every watcher when the drain began: end them."""
        self._ended = True
        for end in list(self._ends.values()):
            end()
        self._ends.clear()

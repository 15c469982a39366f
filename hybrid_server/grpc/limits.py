"""MAXIMUM_CONCURRENT_RPCS for the project's services only.

grpc's own `maximum_concurrent_rpcs` counts every RPC, health checks included: a server saturated
by long streams would answer a Kubernetes `grpc` liveness probe with RESOURCE_EXHAUSTED and be
restarted for being busy. The engine counts instead, around the project's handlers; health and
reflection are answered whatever the load.
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import grpc

EXEMPT_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
})
DETAILS = "Concurrent RPC limit exceeded!"  # grpc's own wording for the same refusal


class ConcurrencyLimit:
    """In-flight RPCs of the limited services; thread-safe (the thread-pool backend)."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.active >= self.maximum:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1

    def wrap(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        enter, leave = self.enter, self.leave
        if inspect.iscoroutinefunction(behaviour):

            async def coroutine(request: Any, context: Any) -> Any:
                if not enter():
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, DETAILS)
                try:
                    return await behaviour(request, context)
                finally:
                    leave()

            return coroutine
        if inspect.isasyncgenfunction(behaviour):

            async def generator(request: Any, context: Any) -> Any:
                if not enter():
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, DETAILS)
                try:
                    async for item in behaviour(request, context):
                        yield item
                finally:
                    leave()

            return generator

        def function(request: Any, context: Any, *rest: Any) -> Any:
            if not enter():
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, DETAILS)
            try:
                result = behaviour(request, context, *rest)
            except BaseException:
                leave()
                raise
            if inspect.isgenerator(result) or hasattr(result, "__next__"):
                return _leave_after(result, leave)
            leave()
            return result

        return function


def _leave_after(iterator: Any, leave: Callable[[], None]) -> Any:
    try:
        yield from iterator
    finally:
        leave()

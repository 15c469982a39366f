"""One request must never stop the process.

asyncio re-raises `SystemExit` and `KeyboardInterrupt` out of the event loop from whichever task
raised them: a `sys.exit()` deep in a library, or argparse's `parser.error()`, in one view or
one action would stop the whole server, every call in flight lost. The serving loops get a task
factory that turns them, inside the task that raised them, into `EscapedExit`, an ordinary
exception that fails that request only (the per-call error handling logs it with its traceback).
Real stops never take this path: the engine owns the signals, and the loop's main task (the
server itself) is created before the factory is installed.
"""
from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine
from typing import Any

# grpc.aio's own tasks, left unwrapped (a wrapper costs a frame at every resumption: ~2.5% of a
# streamed message on asyncio): its serving loop, the call request it re-arms for every RPC, the
# task that awaits the client's cancellation, and the RPC's task itself, `_handle_exceptions`,
# which runs user code only through what the engine hands grpc, each containing SystemExit and
# KeyboardInterrupt itself: the app's handlers (django_socio_grpc.rpc.envelope) and the others
# (grpc/foreign.py), interceptors (grpc/interceptors.py), hand-written generic handlers'
# `service()` (grpc/handle.py), request deserializers and Python response serializers
# (grpc/guard.py). Known by their compiled coroutine's name, so that a Python coroutine of the
# same name is still contained.
GRPC_OWN_TASKS = frozenset({
    "AioServer._request_call", "AioServer._request_registered_call", "AioServer._server_main_loop", "_schedule_rpc_coro",
    "_handle_exceptions",
})


class EscapedExit(Exception):
    """A `SystemExit` or `KeyboardInterrupt` raised by user code, contained to its request."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(type(original).__name__)
        self.original = original

    def __str__(self) -> str:  # the class name only: whatever it carried stays in the log
        return type(self.original).__name__


async def _contained(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    except (SystemExit, KeyboardInterrupt) as exc:
        raise EscapedExit(exc) from exc


_COROUTINE = types.CoroutineType
_Task = asyncio.Task
_iscoroutine = asyncio.iscoroutine


def contained_task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    # Runs for every task the loop creates, three per RPC of grpc.aio's own: the cheapest test
    # first (a Python coroutine is wrapped), then grpc's compiled ones by name.
    if coro.__class__ is _COROUTINE:
        return _Task(_contained(coro), loop=loop, **kwargs)
    if getattr(coro, "__qualname__", None) in GRPC_OWN_TASKS or not _iscoroutine(coro):
        return _Task(coro, loop=loop, **kwargs)
    return _Task(_contained(coro), loop=loop, **kwargs)


def contain(loop: asyncio.AbstractEventLoop) -> None:
    """Install the factory on `loop` unless the application set one of its own."""
    if loop.get_task_factory() is None:
        loop.set_task_factory(contained_task_factory)

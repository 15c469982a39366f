"""`Runtime`: how the servicers of one server are called, handed to them when they are bound.

The engine owns it (backend, executor, bridge loop); the app's servicers receive it through
`bind_runtime(runtime)` when the server handle records them, never through a global.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import field
from typing import Literal

from hybrid_server.records import record

Backend = Literal["aio", "threads"]
AIO: Backend = "aio"
THREADS: Backend = "threads"


@record
class Runtime:
    """The calling convention of one transport.

    `aio`: handlers are coroutines on the serving loop; `def` work runs in `executor` (None: the
    loop's default executor). `threads`: handlers are plain functions in grpc's worker threads;
    `async def` work runs on `bridge_loop`.
    """

    backend: Backend = AIO
    executor: Executor | None = None
    bridge_loop: asyncio.AbstractEventLoop | None = None
    log_ok: bool = False  # log successful calls too (--access-log, on with --dev)
    # Where an `async def` RPC may borrow a thread for its ORM calls: the aio backend lends its
    # pool; the thread-pool server's own pool must not be borrowed by the async code its threads
    # are waiting for (None: a thread of the RPC's own). An attribute: it is read on every RPC.
    orm_pool: Executor | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "orm_pool", self.executor if self.backend == AIO else None)

    @property
    def is_aio(self) -> bool:
        return self.backend == AIO

"""`run()`: serve in this process, or under a supervisor (`--dev`, `--workers N`)."""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, NoReturn

from hybrid_server.config import resolve
from hybrid_server.options import Options
from hybrid_server.serving import SETUP_ERRORS, report, run_system_checks, serve, setup_django


def run(options: Options | None = None, **changes: Any) -> int:
    """Serve gRPC (and HTTP when `http_address` is set) until stopped; returns the exit code.

    Keywords are `Options` fields: `grpc_address`, `http_address`, `grace`, `drain_delay`,
    `max_workers`, `backend`, `loop`, `dev`, `workers`, ...
    """
    try:
        options = (options or Options()).replace(**changes)
        setup_django()
        config = resolve(options)
        if config.dev:
            from hybrid_server.supervisors.reload import run_reloader

            return run_reloader(config)
        if config.workers > 1:
            from hybrid_server.supervisors.workers import run_workers

            return run_workers(config)
        run_system_checks()
    except SETUP_ERRORS as exc:
        return report(exc)
    return serve(config)


def _exit_blockers() -> list[threading.Thread]:
    """Threads the interpreter would wait for at exit: non-daemon ones, and executor workers
    (concurrent.futures joins those even when they are daemon threads, as grpc's are)."""
    from concurrent.futures import thread as futures_thread

    workers = set(getattr(futures_thread, "_threads_queues", {}))
    return [
        thread for thread in threading.enumerate()
        if thread is not threading.main_thread() and (not thread.daemon or thread in workers)
    ]


def exit_process(code: int) -> NoReturn:
    """Leave the process with `code`, without waiting on `def` actions still running.

    When the grace period is over a blocking `def` action cannot be interrupted: its thread
    would hold the interpreter at exit for as long as the action runs. Threads that finish
    within a moment are waited for; the others are abandoned, and said so.
    """
    deadline = time.monotonic() + 1.0
    for thread in _exit_blockers():
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = [thread for thread in _exit_blockers() if thread.is_alive()]
    if busy:
        print(f"{len(busy)} thread(s) still running code past the grace period; exiting without them.", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    if busy:
        os._exit(code)
    sys.exit(code)

"""`run()`: serve in this process, or under a supervisor (`--dev`, `--workers N`)."""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from hybrid_server.collector import defer_full_collections, resume
from hybrid_server.config import resolve
from hybrid_server.options import Options
from hybrid_server.serving import SETUP_ERRORS, report, run_system_checks, serve, setup_django


def run(options: Options | None = None, **changes: Any) -> int:
    """Serve gRPC (and HTTP when `http_address` is set) until stopped; returns the exit code.

    Keywords are `Options` fields: `grpc_address`, `http_address`, `grace`, `drain_delay`,
    `max_workers`, `backend`, `loop`, `dev`, `workers`, ...
    """
    defer_full_collections()  # until serving (hybrid_server/collector.py)
    try:
        try:
            options = (options or Options()).replace(**changes)
            setup_django()
            config = resolve(options)
            if config.dev:
                from hybrid_server.supervisors.reload import run_reloader

                resume()  # a supervisor serves nothing itself
                return run_reloader(config)
            if config.workers > 1:
                from hybrid_server.supervisors.workers import run_workers

                resume()
                return run_workers(config)
            run_system_checks()
        except SETUP_ERRORS as exc:
            return report(exc)
        return serve(config)
    finally:
        resume()


def abandon_running_work(code: int, patience: float = 1.0) -> int:
    """Return `code`, unless user code still runs in the engine's pools past the grace period.

    A blocking `def` action cannot be interrupted: its thread would hold the interpreter at exit
    for as long as it runs. Work that finishes within `patience` is waited for; otherwise the
    process leaves at once (`os._exit`), and says so. Idle threads are no reason to do that, so
    a clean stop returns and `atexit` handlers (exporters' last flush) run as usual.
    """
    from hybrid_server.grpc.pools import running_work

    deadline = time.monotonic() + patience
    while running_work() and time.monotonic() < deadline:
        time.sleep(0.02)
    busy = running_work()
    if not busy:
        return code
    print(f"{busy} call(s) still running code past the grace period; exiting without them.", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""`run()`: build a Config and serve it, in this process or under a supervisor."""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError

from hybrid_server.config import Config, ConfigError
from hybrid_server.lifecycle import StartupError

def setup_django() -> None:
    """`django.setup()` unless that already happened (a plain script calling `run()`)."""
    from django.apps import apps

    if not apps.ready:
        if not os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise StartupError("DJANGO_SETTINGS_MODULE is not set: hybrid_server.run() serves a Django project")
        import django

        django.setup()


def run_system_checks(dev: bool = False) -> None:
    """Django's system checks, as `runserver` runs them; errors raise SystemCheckError.

    In dev mode unapplied migrations are reported too, as `runserver` does.
    """
    from django.core.management.base import BaseCommand

    command = BaseCommand()
    command.check(display_num_errors=dev)
    if dev:
        command.check_migrations()


def serve(config: Config, http_socket: socket.socket | None = None) -> int:
    """Run one HybridServer in this process until it stops; returns the exit code."""
    import anyio

    from hybrid_server.server import HybridServer

    server = HybridServer(config, http_socket=http_socket)
    return anyio.run(server.serve, backend="asyncio", backend_options={"use_uvloop": config.use_uvloop})


def _report(exc: BaseException) -> int:
    if isinstance(exc, SystemCheckError):
        print(exc, file=sys.stderr, flush=True)
    else:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
    return 1


def run(config: Config | None = None, **kwargs: Any) -> int:
    """Serve gRPC (and HTTP when `http_address` is set) until stopped; returns the exit code.

    Keywords are Config fields: `grpc_address`, `http_address`, `grace`, `drain_delay`,
    `max_workers`, `backend`, `loop`, `dev`, `workers`, ...
    """
    try:
        setup_django()
        config = config or Config()
        if kwargs:
            config = config.replace(**kwargs)
        resolved = config.resolve()
        if resolved.dev:
            from hybrid_server.supervisors.reload import run_reloader

            return run_reloader(config, resolved)
        if resolved.workers > 1:
            from hybrid_server.supervisors.workers import run_workers

            return run_workers(config, resolved)
        run_system_checks()
        return serve(resolved)
    except (ConfigError, StartupError, ImproperlyConfigured, SystemCheckError) as exc:
        return _report(exc)


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


def run_supervised(config: Config, grpc_port: int, http_socket: socket.socket | None, dev: bool) -> int:
    """The serving side of a supervised child: the supervisor fixed the ports."""
    try:
        setup_django()
        resolved = config.replace(dev=False).resolve()
        resolved.grpc_port = grpc_port
        run_system_checks(dev=dev)
        return serve(resolved, http_socket)
    except (ConfigError, StartupError, ImproperlyConfigured, SystemCheckError) as exc:
        return _report(exc)

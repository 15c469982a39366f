"""`run()`: build a Config and serve it, in this process or under a supervisor."""
from __future__ import annotations

import os
import socket
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError

from hybrid_server.config import Config, ConfigError
from hybrid_server.lifecycle import StartupError

CHILD_MARKER = "HYBRID_SERVER_CHILD"


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

"""Serving one process: Django set up, options resolved once, checks run, one HybridServer.

Used by `run()` and by supervised children alike; it never imports a supervisor.
"""
from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError

from hybrid_server.collector import defer_full_collections, resume
from hybrid_server.config import Config, ConfigError, resolve
from hybrid_server.http.sockets import Listeners
from hybrid_server.lifecycle import EXIT_FAILURE, StartupError, report_error
from hybrid_server.options import Options

# What stops a run before it serves, reported as one `Error: ...` line (exit 1).
SETUP_ERRORS = (ConfigError, StartupError, ImproperlyConfigured, SystemCheckError)


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


def report(exc: BaseException) -> int:
    if isinstance(exc, SystemCheckError):
        print(exc, file=sys.stderr, flush=True)  # Django's own multi-line report
    else:
        report_error(str(exc))
    return EXIT_FAILURE


def serve(config: Config, listeners: Listeners | None = None) -> int:
    """Run one HybridServer in this process until it stops; returns the exit code."""
    import anyio

    from hybrid_server.server import HybridServer

    listeners = listeners or Listeners()
    server = HybridServer(config, http_socket=listeners.http, probe_socket=listeners.probe)
    return anyio.run(server.serve, backend="asyncio", backend_options={"use_uvloop": config.use_uvloop})


def serve_options(options: Options, listeners: Listeners | None = None, dev_checks: bool = False) -> int:
    """Set up, resolve, check and serve; set-up errors become one `Error:` line and exit 1."""
    defer_full_collections()  # until serving (hybrid_server/collector.py)
    try:
        try:
            setup_django()
            config = resolve(options)
            run_system_checks(dev=dev_checks)
        except SETUP_ERRORS as exc:
            if listeners is not None:
                listeners.close()
            return report(exc)
        return serve(config, listeners)
    finally:
        resume()

"""`run()`: build a Config and serve it, in this process or under a supervisor."""
from __future__ import annotations

import os
import sys
from typing import Any

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


def run_system_checks() -> None:
    """Django's system checks, as `runserver` runs them; errors raise SystemCheckError."""
    from django.core.management.base import BaseCommand

    BaseCommand().check(display_num_errors=False)


def serve(config: Config) -> int:
    """Run one HybridServer in this process until it stops; returns the exit code."""
    import anyio

    from hybrid_server.server import HybridServer

    server = HybridServer(config)
    return anyio.run(server.serve, backend="asyncio", backend_options={"use_uvloop": config.use_uvloop})


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
        config = config.resolve()
        if config.dev and not os.environ.get("HYBRID_SERVER_CHILD"):
            from hybrid_server.supervisors.reload import run_reloader

            return run_reloader(config)
        if config.workers > 1 and not os.environ.get("HYBRID_SERVER_CHILD"):
            from hybrid_server.supervisors.workers import run_workers

            return run_workers(config)
        run_system_checks()
        return serve(config)
    except (ConfigError, StartupError) as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    except ImproperlyConfigured as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    except SystemCheckError as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1

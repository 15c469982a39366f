"""The Django ASGI app the HTTP side serves: the project's ASGI_APPLICATION, else Django's,
with static files in DEBUG as `runserver` serves them."""
from __future__ import annotations

from typing import Any

from hybrid_server.config import Config
from hybrid_server.lifecycle import StartupError


def _import(path: str, what: str) -> Any:
    from django.utils.module_loading import import_string

    try:
        return import_string(path)
    except Exception as exc:
        raise StartupError(f"{what}: cannot import {path!r}: {type(exc).__name__}: {exc}") from exc


def django_asgi_app(config: Config) -> Any:
    from django.conf import settings

    app = config.asgi_app
    if isinstance(app, str):
        app = _import(app, "asgi_app")
    if app is None:
        path = getattr(settings, "ASGI_APPLICATION", None)
        if path:
            app = _import(path, "ASGI_APPLICATION")
        else:
            from django.core.asgi import get_asgi_application

            app = get_asgi_application()
    if config.serve_static:
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        app = ASGIStaticFilesHandler(app)
    return app

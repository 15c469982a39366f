"""The HTTP side: uvicorn serving the Django ASGI app, with the engine's probes in front."""
from __future__ import annotations

import contextlib
import socket
from typing import Any, Callable, Iterator

import uvicorn
from starlette.responses import PlainTextResponse

from hybrid_server.config import Config
from hybrid_server.lifecycle import Lifecycle, StartupError


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the engine is the one owner of signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ProbeApp:
    """`/healthz` (alive) and `/readyz` (200 while serving, 503 otherwise) before the user's app.

    A plain ASGI dispatch on the exact path, so requests for the app pay one comparison.
    """

    def __init__(self, app: Callable[..., Any], lifecycle: Lifecycle, healthz: str | None, readyz: str | None) -> None:
        self.app = app
        self.lifecycle = lifecycle
        self.healthz = healthz
        self.readyz = readyz

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == self.healthz:
                await PlainTextResponse("ok")(scope, receive, send)
                return
            if path == self.readyz:
                state = self.lifecycle.state
                ready = self.lifecycle.ready
                response = PlainTextResponse(state.value, status_code=200 if ready else 503)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def django_asgi_app(config: Config) -> Any:
    """The project's ASGI_APPLICATION, else Django's; static files in DEBUG like runserver."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    app = config.asgi_app
    if isinstance(app, str):
        try:
            app = import_string(app)
        except Exception as exc:
            raise StartupError(f"asgi_app: cannot import {app!r}: {type(exc).__name__}: {exc}") from exc
    if app is None:
        path = getattr(settings, "ASGI_APPLICATION", None)
        if path:
            try:
                app = import_string(path)
            except Exception as exc:
                raise StartupError(f"ASGI_APPLICATION: cannot import {path!r}: {type(exc).__name__}: {exc}") from exc
        else:
            from django.core.asgi import get_asgi_application

            app = get_asgi_application()
    serve_static = config.serve_static
    if serve_static is None:
        from django.apps import apps

        serve_static = settings.DEBUG and apps.is_installed("django.contrib.staticfiles")
    if serve_static:
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        app = ASGIStaticFilesHandler(app)
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind (not listen) so that both sides hold their ports before either serves."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bare, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind HTTP to {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class HttpSide:
    def __init__(self, config: Config, lifecycle: Lifecycle, sock: socket.socket | None = None) -> None:
        self.config = config
        self.lifecycle = lifecycle
        self.sock = sock
        self.server: EmbeddedUvicorn | None = None

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1] if self.sock is not None else 0

    def bind(self) -> None:
        if self.sock is None:
            self.sock = bind_socket(self.config.http_host, self.config.http_port)

    def build(self) -> None:
        config = self.config
        app = ProbeApp(django_asgi_app(config), self.lifecycle, config.healthz_path, config.readyz_path)
        ssl: dict[str, Any] = {}
        if config.tls and config.http_tls:
            key, cert = config.tls_cert_chain_pairs[0]
            ssl = {"ssl_keyfile": key, "ssl_certfile": cert}
            if config.tls_root_certificates:
                import ssl as ssl_module

                ssl["ssl_ca_certs"] = config.tls_root_certificates
                if config.tls_require_client_auth:
                    ssl["ssl_cert_reqs"] = ssl_module.CERT_REQUIRED
        uv_config = uvicorn.Config(
            app,
            lifespan="off",  # Django's ASGI handler refuses lifespan
            log_config=None,  # leave Django's logging alone
            access_log=config.access_log,
            timeout_graceful_shutdown=max(config.grace or 0.0, 0.01),
            server_header=False,
            **ssl,
        )
        self.server = EmbeddedUvicorn(uv_config)

    async def serve(self) -> None:
        assert self.server is not None and self.sock is not None
        try:
            await self.server.serve(sockets=[self.sock])
        except SystemExit as exc:  # uvicorn's startup failures call sys.exit(3)
            raise StartupError(f"HTTP server on {self.config.http_host}:{self.port} failed to start (uvicorn exit {exc.code})") from None

    @property
    def started(self) -> bool:
        return bool(self.server and self.server.started)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    def force(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.server.force_exit = True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

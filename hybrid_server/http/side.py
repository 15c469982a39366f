"""The HTTP side: uvicorn, embedded, serving the probes and the Django ASGI app."""
from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from hybrid_server.config import Config
from hybrid_server.http.app import django_asgi_app
from hybrid_server.http.limits import protocol_class
from hybrid_server.http.probes import ProbeApp
from hybrid_server.http.sockets import bind_socket
from hybrid_server.lifecycle import Lifecycle, StartupError


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the engine is the one owner of signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _ssl_options(config: Config) -> dict[str, Any]:
    if config.tls is None or not config.http_tls:
        return {}
    key, cert = config.tls.cert_chain_pairs[0]
    options: dict[str, Any] = {"ssl_keyfile": key, "ssl_certfile": cert}
    if config.tls.root_certificates:
        import ssl

        options["ssl_ca_certs"] = config.tls.root_certificates
        if config.tls.require_client_auth:
            options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    return options


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
            assert self.config.http_host is not None
            self.sock = bind_socket(self.config.http_host, self.config.http_port)

    def build(self) -> None:
        config = self.config
        app = ProbeApp(django_asgi_app(config), self.lifecycle, config.healthz_path, config.readyz_path)
        uv_config = uvicorn.Config(
            app,
            lifespan="off",  # Django's ASGI handler refuses lifespan
            log_config=None,  # leave Django's logging alone
            access_log=config.access_log,
            timeout_graceful_shutdown=max(config.grace, 0.01),  # type: ignore[arg-type]  # a float works
            server_header=False,
            http=protocol_class(config.http_limits),
            **_ssl_options(config),
        )
        self.server = EmbeddedUvicorn(uv_config)

    async def serve(self) -> None:
        assert self.server is not None and self.sock is not None
        try:
            await self.server.serve(sockets=[self.sock])
        except SystemExit as exc:  # uvicorn's startup failures call sys.exit(3)
            raise StartupError(
                f"HTTP server on {self.config.http_host}:{self.port} failed to start (uvicorn exit {exc.code})"
            ) from None

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

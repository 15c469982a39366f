"""The HTTP side: uvicorn, embedded, serving the probes and the Django ASGI app; and the optional
probe listener (the same probes alone, plain HTTP, on an address of their own)."""
from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import uvicorn

from hybrid_server.config import Config
from hybrid_server.http.app import django_asgi_app
from hybrid_server.http.limits import protocol_class
from hybrid_server.http.probes import ProbeApp
from hybrid_server.http.rpc import RpcApp, max_receive_message_length
from hybrid_server.http.sockets import bind_socket
from hybrid_server.lifecycle import Lifecycle, StartupError, State

logger = logging.getLogger("hybrid_server.http")

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


async def _not_found(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    body = b"Only the probes are served here.\n"
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HttpSide:
    """One uvicorn server; `probes_only` makes it the probe listener (no app, no TLS)."""

    def __init__(
        self, config: Config, lifecycle: Lifecycle, sock: socket.socket | None = None, probes_only: bool = False,
        metrics: Any = None,
    ) -> None:
        self.config = config
        self.metrics = metrics  # a hybrid_server.metrics ServerMetrics with --metrics: /metrics served here
        self.lifecycle = lifecycle
        self.sock = sock
        self.probes_only = probes_only
        self.name = "probe listener" if probes_only else "HTTP server"
        self.server: EmbeddedUvicorn | None = None
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.rpc: RpcApp | None = None  # the gRPC services over Connect and gRPC-Web

    @property
    def host(self) -> str:
        host = self.config.probe_host if self.probes_only else self.config.http_host
        assert host is not None
        return host

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1] if self.sock is not None else 0

    @property
    def scheme(self) -> str:
        return "https" if self.config.http_over_tls and not self.probes_only else "http"

    def bind(self) -> None:
        if self.sock is None:
            config = self.config
            self.sock = bind_socket(self.host, config.probe_port if self.probes_only else config.http_port)

    def build(self) -> None:
        config = self.config
        app = _not_found if self.probes_only else django_asgi_app(config)
        if config.http_rpc and not self.probes_only:
            app = self.rpc = RpcApp(app, config.cors_allowed_origins)
        uv_config = uvicorn.Config(
            ProbeApp(app, self.lifecycle, config.healthz_path, config.readyz_path, config.access_log and not self.probes_only,
                     self.metrics, count_requests=not self.probes_only),
            lifespan="off",  # Django's ASGI handler refuses lifespan
            log_config=None,  # leave Django's logging alone
            access_log=False,  # the engine's own line (http/probes.py), one format with gRPC's
            timeout_graceful_shutdown=max(config.grace, 0.01),  # type: ignore[arg-type]  # a float works
            server_header=False,
            http=protocol_class(config.http_limits),
            **({} if self.probes_only else _ssl_options(config)),
        )
        self.server = EmbeddedUvicorn(uv_config)

    def serve_rpc(self, grpc: Any) -> None:
        """Route the gRPC side's recorded methods (a `GrpcSide` whose hook has run) here too."""
        if self.rpc is None or grpc.handle is None:
            return
        executor = grpc.backend.executor if grpc.backend is not None else None
        self.rpc.load(grpc.methods.values(), executor, grpc.handle.limit,
                      max_receive_message_length(self.config.server_options), log_ok=self.config.access_log)
        if self.config.interceptors and self.rpc.served:
            logger.warning(
                "SERVER_INTERCEPTORS run on the gRPC port only: they are grpc-core objects, and the Connect and "
                "gRPC-Web calls on the HTTP port do not pass through them (GRPC_MIDDLEWARE runs on both)"
            )

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Serve until stopped; a stop the lifecycle did not ask for fails the whole server."""
        assert self.server is not None and self.sock is not None
        try:
            await self.server.serve(sockets=[self.sock])
        except SystemExit as exc:  # uvicorn's startup failures call sys.exit(3)
            self.error = StartupError(f"{self.name} on {self.host}:{self.port} failed to start (uvicorn exit {exc.code})")
        except Exception as exc:
            self.error = exc
        finally:
            self.done.set()
            self.close()
        if self.lifecycle.state is State.SERVING:
            detail = f": {self.error}" if self.error else ""
            self.lifecycle.fail(f"{self.name} stopped unexpectedly{detail}", self.error)

    async def wait_started(self) -> None:
        while not (self.server is not None and self.server.started):
            if self.done.is_set():
                error = self.error
                raise StartupError(str(error) if error else f"{self.name} exited during start-up") from error
            await anyio.sleep(0.005)

    async def stop(self, forced: bool) -> None:
        if forced:
            self.force()
        elif self.server is not None:
            self.server.should_exit = True
        await self.done.wait()

    def force(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.server.force_exit = True

    async def abort(self) -> None:
        """Start-up failed elsewhere: release this side whatever state it reached."""
        self.force()
        if self.server is not None and self.server.started:
            await self.done.wait()
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

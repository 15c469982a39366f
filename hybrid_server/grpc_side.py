"""The gRPC side: build, populate, bind, start and stop the server; two backends, one interface."""
from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import anyio
import grpc

from django_socio_grpc.services.adapter import AIO, THREADS, ServingMode, reset_serving_mode, set_serving_mode
from hybrid_server.config import Config
from hybrid_server.lifecycle import StartupError

logger = logging.getLogger("hybrid_server.grpc")

HEALTH_SERVICE = "grpc.health.v1.Health"


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


def server_credentials(config: Config) -> grpc.ServerCredentials | None:
    if not config.tls_cert_chain_pairs:
        return None
    pairs = [
        (_read(key, "TLS private key"), _read(cert, "TLS certificate chain"))
        for key, cert in config.tls_cert_chain_pairs
    ]
    roots = _read(config.tls_root_certificates, "TLS root certificates") if config.tls_root_certificates else None
    if config.tls_require_client_auth and roots is None:
        raise StartupError("REQUIRE_CLIENT_AUTH needs ROOT_CERTIFICATES_PATH to verify clients")
    return grpc.ssl_server_credentials(pairs, root_certificates=roots, require_client_auth=bool(config.tls_require_client_auth))


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__module__", "?") + "." + getattr(hook, "__qualname__", repr(hook))


class GrpcSide:
    """One gRPC server of either backend, driven by `HybridServer`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.server: Any = None
        self.port: int = 0
        self.services: list[str] = []
        self._executor: ThreadPoolExecutor | None = None
        self._bridge_loop: asyncio.AbstractEventLoop | None = None
        self._bridge_thread: threading.Thread | None = None
        self._health: Any = None
        self._started = False

    @property
    def is_aio(self) -> bool:
        return self.config.backend == AIO

    # ------------------------------------------------------------------ startup

    def _options(self) -> list[tuple[str, Any]]:
        options = list(self.config.server_options or [])
        if not any(name == "grpc.so_reuseport" for name, _ in options):
            # grpc shares ports silently by default; one process must fail on a busy port.
            options.append(("grpc.so_reuseport", 1 if self.config.workers > 1 else 0))
        return options

    def _create(self) -> Any:
        config = self.config
        self._executor = ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="grpc-worker")
        interceptors = list(config.interceptors or [])
        expected = grpc.aio.ServerInterceptor if self.is_aio else grpc.ServerInterceptor
        for interceptor in interceptors:
            if not isinstance(interceptor, expected):
                raise StartupError(
                    f"SERVER_INTERCEPTORS: {interceptor!r} is not a {expected.__module__}.{expected.__qualname__}, "
                    f"which the {config.backend} server needs"
                )
        if self.is_aio:
            return grpc.aio.server(
                migration_thread_pool=self._executor,
                interceptors=interceptors or None,
                options=self._options(),
                maximum_concurrent_rpcs=config.maximum_concurrent_rpcs,
            )
        self._start_bridge_loop()
        return grpc.server(
            self._executor,
            interceptors=interceptors or None,
            options=self._options(),
            maximum_concurrent_rpcs=config.maximum_concurrent_rpcs,
        )

    def _start_bridge_loop(self) -> None:
        """The thread-pool server runs `async def` actions on this loop."""
        loop = asyncio.new_event_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=self.config.max_workers, thread_name_prefix="grpc-bridge"))
        self._bridge_loop = loop
        self._bridge_thread = threading.Thread(target=loop.run_forever, name="grpc-bridge-loop", daemon=True)
        self._bridge_thread.start()

    async def _call_hook(self, server: Any) -> list[str]:
        hook = self.config.handlers_hook
        if isinstance(hook, str):
            from django.utils.module_loading import import_string

            try:
                hook = import_string(hook)
            except Exception as exc:
                raise StartupError(f"ROOT_HANDLERS_HOOK: cannot import {hook!r}: {exc}") from exc
        if not callable(hook):
            raise StartupError(f"ROOT_HANDLERS_HOOK must be a callable taking the server, got {hook!r}")
        mode = ServingMode(
            backend=AIO if self.is_aio else THREADS,
            executor=self._executor,
            bridge_loop=self._bridge_loop,
        )
        token = set_serving_mode(mode)
        try:
            result = hook(server)
            if inspect.isawaitable(result):
                await result
        except StartupError:
            raise
        except Exception as exc:
            raise StartupError(f"ROOT_HANDLERS_HOOK {_hook_name(hook)} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            reset_serving_mode(token)
        return list(mode.registered_services)

    def _add_health(self, server: Any) -> None:
        if self.is_aio:
            from grpc_health.v1.health import aio as health_aio

            self._health = health_aio.HealthServicer()
        else:
            from grpc_health.v1 import health

            self._health = health.HealthServicer()
        from grpc_health.v1 import health_pb2_grpc

        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)

    def _add_reflection(self, server: Any) -> None:
        from grpc_reflection.v1alpha import reflection

        names = [*self.services, reflection.SERVICE_NAME]
        if self._health is not None:
            names.append(HEALTH_SERVICE)
        reflection.enable_server_reflection(names, server)

    async def bind(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Create the server, run the hook and bind the port; nothing is served yet.

        With `bind_retry` (a reload whose predecessor still drains) a busy port is retried,
        backing off, until it frees up, the time runs out, or `cancelled()` says stop.
        """
        config = self.config
        credentials = server_credentials(config)
        self.server = server = self._create()
        self.services = await self._call_hook(server)
        if not self.services:
            logger.warning("ROOT_HANDLERS_HOOK registered no service")
        if config.health:
            self._add_health(server)
        if config.reflection:
            self._add_reflection(server)
        address = f"{config.grpc_host}:{config.grpc_port}"
        deadline = time.monotonic() + config.bind_retry
        pause = 0.01
        while True:
            try:
                if credentials is None:
                    self.port = server.add_insecure_port(address)
                else:
                    self.port = server.add_secure_port(address, credentials)
            except RuntimeError:
                self.port = 0
            if self.port:
                return
            if time.monotonic() >= deadline or cancelled():
                raise StartupError(f"cannot bind gRPC to {address}: address in use or not available")
            await anyio.sleep(pause)
            pause = min(pause * 2, 0.2)

    async def start(self) -> None:
        if self.is_aio:
            await self.server.start()
        else:
            self.server.start()
        self._started = True
        await self.set_serving()

    # ------------------------------------------------------------------ health

    async def set_serving(self) -> None:
        if self._health is None:
            return
        from grpc_health.v1 import health_pb2

        for name in ("", *self.services):
            result = self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
            if inspect.isawaitable(result):
                await result

    async def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING for good; `Watch` streams see the change."""
        if self._health is None:
            return
        result = self._health.enter_graceful_shutdown()
        if inspect.isawaitable(result):
            await result

    # ------------------------------------------------------------------ shutdown

    async def stop(self, grace: float | None) -> None:
        """Refuse new RPCs, let active ones finish within `grace` (None: cancel at once).

        The thread-pool server's stop waits for handler threads to return; a `def` action
        blocked past the grace period is not waited for beyond a second more.
        """
        if self.server is None:
            return
        try:
            if self._started:
                if self.is_aio:
                    await self.server.stop(grace)
                else:
                    event = self.server.stop(grace)
                    with anyio.move_on_after((grace or 0) + 1):
                        await anyio.to_thread.run_sync(event.wait, abandon_on_cancel=True)
            elif not self.is_aio:
                self.server.stop(None)
            else:
                await self.server.stop(None)
        finally:
            self._release()

    async def cancel_all(self) -> None:
        """Cancel every active RPC now (a forced stop)."""
        if self.server is None:
            return
        if self.is_aio:
            await self.server.stop(None)
        else:
            self.server.stop(None)

    def _release(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        loop = self._bridge_loop
        if loop is not None:
            self._bridge_loop = None
            try:
                asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(timeout=5)
            except Exception:
                pass
            loop.call_soon_threadsafe(loop.stop)
            if self._bridge_thread is not None:
                self._bridge_thread.join(timeout=5)
            if not loop.is_running():
                loop.close()

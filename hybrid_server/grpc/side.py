"""The gRPC side: build the server, run the hook on a `ServerHandle`, add health and
reflection, bind, start and stop; the backend does the backend-specific part."""
from __future__ import annotations

import errno
import inspect
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import anyio

from hybrid_server.config import Config
from hybrid_server.grpc.backends import AioBackend, ThreadsBackend, create_backend
from hybrid_server.grpc.handle import MethodRecord, ServerHandle
from hybrid_server.grpc.limits import ConcurrencyLimit
from hybrid_server.grpc.tls import server_credentials
from hybrid_server.lifecycle import StartupError

logger = logging.getLogger("hybrid_server.grpc")

HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICES = ("grpc.reflection.v1alpha.ServerReflection",)


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__module__", "?") + "." + getattr(hook, "__qualname__", repr(hook))


def _import_hook(hook: Any) -> Callable[[Any], Any]:
    if isinstance(hook, str):
        from django.utils.module_loading import import_string

        try:
            hook = import_string(hook)
        except Exception as exc:
            raise StartupError(f"ROOT_HANDLERS_HOOK: cannot import {hook!r}: {exc}") from exc
    if not callable(hook):
        raise StartupError(f"ROOT_HANDLERS_HOOK must be a callable taking the server, got {hook!r}")
    return hook


def why_bind_failed(host: str, port: int) -> str:
    """grpc says only "Failed to bind": find the reason with a plain socket."""
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare or None, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{bare!r} is neither an IP address nor a host name that resolves ({exc.strerror})"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "address in use (another server is listening there)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{bare!r} is not an address of this machine"
            return exc.strerror or str(exc)
    return "address in use or not available"


class GrpcSide:
    """One gRPC server of either backend, driven by `HybridServer`."""

    def __init__(self, config: Config, metrics: Any = None) -> None:
        self.config = config
        self.metrics = metrics  # a hybrid_server.metrics GrpcMetrics with --metrics, else None
        self.backend: AioBackend | ThreadsBackend | None = None
        self.handle: ServerHandle | None = None
        self.port = 0
        self._health: Any = None
        self._started = False

    @property
    def is_aio(self) -> bool:
        return self.config.backend == "aio"

    @property
    def server(self) -> Any:
        return self.backend.server if self.backend is not None else None

    @property
    def services(self) -> list[str]:
        """What the hook registered, in order (health and reflection not included)."""
        if self.handle is None:
            return []
        return [name for name in self.handle.services if name != HEALTH_SERVICE and name not in REFLECTION_SERVICES]

    @property
    def methods(self) -> dict[str, MethodRecord]:
        return self.handle.methods if self.handle is not None else {}

    # ------------------------------------------------------------------ startup

    async def _call_hook(self, handle: ServerHandle) -> None:
        hook = _import_hook(self.config.handlers_hook)
        try:
            result = hook(handle)
            if inspect.isawaitable(result):
                await result
        except StartupError:
            raise
        except Exception as exc:
            raise StartupError(f"ROOT_HANDLERS_HOOK {_hook_name(hook)} failed: {type(exc).__name__}: {exc}") from exc

    def _add_health(self, handle: ServerHandle) -> None:
        from grpc_health.v1 import health_pb2_grpc

        from hybrid_server.grpc.health import AioHealth, ThreadsHealth

        self._health = AioHealth() if self.is_aio else ThreadsHealth()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, handle)

    def _add_reflection(self, handle: ServerHandle) -> None:
        from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

        names = [*self.services, reflection.SERVICE_NAME]
        if self._health is not None:
            names.append(HEALTH_SERVICE)
        servicer = reflection.aio.ReflectionServicer(names) if self.is_aio else reflection.ReflectionServicer(names)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, handle)

    async def bind(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Create the server, run the hook and bind the port; nothing is served yet.

        With `bind_retry` (a reload whose predecessor still drains) a busy port is retried,
        backing off, until it frees up, the time runs out, or `cancelled()` says stop.
        """
        config = self.config
        credentials = server_credentials(config.tls)
        self.backend = backend = create_backend(config)
        limit = ConcurrencyLimit(config.maximum_concurrent_rpcs) if config.maximum_concurrent_rpcs else None
        self.handle = handle = ServerHandle(backend.server, backend.runtime, limit, self.metrics)
        await self._call_hook(handle)
        if not self.services:
            logger.warning("ROOT_HANDLERS_HOOK registered no service")
        if config.health:
            self._add_health(handle)
        if config.reflection:
            self._add_reflection(handle)
        address = config.grpc_address
        started = time.monotonic()
        deadline = started + config.bind_retry
        pause = 0.01
        told = False
        while True:
            try:
                if credentials is None:
                    self.port = backend.server.add_insecure_port(address)
                else:
                    self.port = backend.server.add_secure_port(address, credentials)
            except RuntimeError:
                self.port = 0
            if self.port:
                return
            now = time.monotonic()
            if now >= deadline or cancelled():
                raise StartupError(f"cannot bind gRPC to {address}: {why_bind_failed(config.grpc_host, config.grpc_port)}")
            if not told and now - started > 2.0:
                told = True
                print(f"gRPC port {address} is busy ({why_bind_failed(config.grpc_host, config.grpc_port)}); "
                      "waiting for it to free.", flush=True)
            await anyio.sleep(pause)
            pause = min(pause * 2, 0.2)

    async def start(self) -> None:
        assert self.backend is not None
        await self.backend.start()
        self._started = True
        await self.set_serving()

    def broken(self) -> str | None:
        """What internal piece died while serving, if one did."""
        return self.backend.broken() if self.backend is not None else None

    async def terminated(self, timeout: float) -> bool:
        """True once the server has terminated; False after `timeout` on a backend whose pieces
        may die while it runs (`broken()`); grpc.aio's waits for its termination (no timer)."""
        assert self.backend is not None
        return await self.backend.terminated(timeout)

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
        """Refuse new RPCs, let active ones finish within `grace` (None: cancel at once)."""
        backend = self.backend
        if backend is None:
            return
        if self._health is not None:
            await self._health.end_watches()
        try:
            await backend.stop(grace if self._started else None)
        finally:
            backend.release()

    async def cancel_all(self) -> None:
        """Cancel every active RPC now (a forced stop)."""
        if self.backend is not None:
            await self.backend.cancel_all()

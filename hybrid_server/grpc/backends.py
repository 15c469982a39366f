"""The two gRPC backends behind one small interface: grpc.aio, and grpc's thread-pool server.

Each owns its server object and the threads its servicers run on: the aio backend a pool for
`def` actions; the thread-pool backend grpc's worker pool and a bridge loop for `async def`
actions. `runtime` is what the servicers are bound to.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio
import grpc

from hybrid_server.config import Config
from hybrid_server.containment import contain
from hybrid_server.grpc.interceptors import guard_interceptors
from hybrid_server.grpc.pools import CountingExecutor
from hybrid_server.grpc.runtime import AIO, THREADS, Runtime
from hybrid_server.lifecycle import StartupError


def _server_options(config: Config) -> list[tuple[str, Any]]:
    # MAXIMUM_CONCURRENT_RPCS is not handed to grpc, which would count health checks too: the
    # server handle applies it to the project's services (grpc/limits.py).
    options = list(config.server_options)
    given = {name for name, _ in options}
    if "grpc.so_reuseport" not in given:
        # grpc shares ports silently by default; one process must fail on a busy port.
        options.append(("grpc.so_reuseport", 1 if config.workers > 1 else 0))
    for name, value in CONNECTION_BOUNDS:
        if name not in given:
            options.append((name, value))
    return options


# Per-connection bounds grpc leaves open (SERVER_OPTIONS overrides each): without a stream limit a
# single connection may open thousands of streams, each holding memory for its pending messages.
CONNECTION_BOUNDS: tuple[tuple[str, int], ...] = (
    ("grpc.max_concurrent_streams", 100),  # advertised as SETTINGS_MAX_CONCURRENT_STREAMS
)


def _check_interceptors(config: Config, expected: type) -> list[Any] | None:
    public_name = "grpc.aio.ServerInterceptor" if expected is grpc.aio.ServerInterceptor else "grpc.ServerInterceptor"
    for interceptor in config.interceptors:
        if not isinstance(interceptor, expected):
            raise StartupError(
                f"SERVER_INTERCEPTORS: {interceptor!r} is not a {public_name}, which the {config.backend} server needs"
            )
    return list(config.interceptors) or None


class AioBackend:
    is_aio = True
    name = "grpc.aio"

    def __init__(self, config: Config) -> None:
        self.executor = CountingExecutor(max_workers=config.max_workers, thread_name_prefix="grpc-worker")
        self.runtime = Runtime(AIO, self.executor, log_ok=config.access_log)
        self.server: Any = grpc.aio.server(
            migration_thread_pool=self.executor,
            interceptors=guard_interceptors(_check_interceptors(config, grpc.aio.ServerInterceptor), aio=True),
            options=_server_options(config),
        )
        self._termination: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        await self.server.start()

    async def stop(self, grace: float | None) -> None:
        await self.server.stop(grace)

    async def cancel_all(self) -> None:
        await self.server.stop(None)

    def broken(self) -> str | None:
        return None

    async def terminated(self, timeout: float) -> bool:
        """True once the server has terminated: waits for that, however long (`timeout` is for
        backends with a piece that can die while the server runs on; `broken()` is None here).

        No timer on the serving loop: while one is pending, every pass of an asyncio loop computes
        its select timeout and arms the kernel's (measured: ~5% of a streamed message's time).
        Through a shield, since cancelling a bare `wait_for_termination()` would cancel the
        server's own shutdown and lose the grace."""
        if self._termination is None:
            self._termination = asyncio.ensure_future(self.server.wait_for_termination())
        if self._termination.done():
            await asyncio.sleep(0)  # asked again once terminated: let the others run
        await asyncio.shield(self._termination)
        return True

    def release(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class ThreadsBackend:
    is_aio = False
    name = "grpc thread pool"

    def __init__(self, config: Config) -> None:
        interceptors = guard_interceptors(_check_interceptors(config, grpc.ServerInterceptor), aio=False)
        self.executor = CountingExecutor(max_workers=config.max_workers, thread_name_prefix="grpc-worker")
        # `async def` actions run on this loop, a grpc thread waiting for each.
        self.bridge_loop = asyncio.new_event_loop()
        contain(self.bridge_loop)
        self.bridge_loop.set_default_executor(
            CountingExecutor(max_workers=config.max_workers, thread_name_prefix="grpc-bridge")
        )
        self._bridge_thread = threading.Thread(target=self.bridge_loop.run_forever, name="grpc-bridge-loop", daemon=True)
        self._bridge_thread.start()
        self.runtime = Runtime(THREADS, self.executor, self.bridge_loop, log_ok=config.access_log)
        self.server: Any = grpc.server(
            self.executor,
            interceptors=interceptors,
            options=_server_options(config),
        )
        self._started = False

    async def start(self) -> None:
        self.server.start()
        self._started = True

    async def stop(self, grace: float | None) -> None:
        """Waits for handler threads to return; a `def` action blocked past the grace period is
        not waited for beyond a second more."""
        event = self.server.stop(grace)
        if self._started:
            with anyio.move_on_after((grace or 0) + 1):
                await anyio.to_thread.run_sync(event.wait, abandon_on_cancel=True)

    async def cancel_all(self) -> None:
        self.server.stop(None)

    def broken(self) -> str | None:
        if self._started and not self._bridge_thread.is_alive():
            return "the event loop that runs async actions on the thread-pool server stopped"
        return None

    async def terminated(self, timeout: float) -> bool:
        return bool(await anyio.to_thread.run_sync(self.server.wait_for_termination, timeout, abandon_on_cancel=True) is False)

    def release(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        loop = self.bridge_loop
        if loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(timeout=5)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        self._bridge_thread.join(timeout=5)
        if not loop.is_running():
            loop.close()


def create_backend(config: Config) -> AioBackend | ThreadsBackend:
    """Built inside the serving loop: a grpc.aio server captures the loop it is made in."""
    return AioBackend(config) if config.backend == AIO else ThreadsBackend(config)

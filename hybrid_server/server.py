"""`HybridServer`: gRPC and HTTP in one task group with one lifecycle.

STARTING binds every listener before anything is ready; SERVING answers on both;
DRAINING (first SIGINT/SIGTERM, `shutdown()`, or a failure of either side) flips readiness,
waits the drain delay while still serving, then stops both within the grace period;
STOPPED returns the exit code: 0 clean, 1 failure, 130 forced by a second SIGINT.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from hybrid_server.collector import settle
from hybrid_server.config import Config, resolve
from hybrid_server.containment import contain
from hybrid_server.grpc.side import GrpcSide
from hybrid_server.lifecycle import EXIT_FAILURE, EXIT_FORCED, EXIT_OK, Lifecycle, StartupError, State, report_error
from hybrid_server.logs import ensure_log_output
from hybrid_server.options import Options

if TYPE_CHECKING:
    from hybrid_server.http.side import HttpSide

__all__ = ["EXIT_FAILURE", "EXIT_FORCED", "EXIT_OK", "HybridServer"]


class HybridServer:
    def __init__(
        self,
        config: Config | Options,
        *,
        http_socket: Any = None,
        probe_socket: Any = None,
        install_signal_handlers: bool | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else resolve(config)
        self.lifecycle = Lifecycle()
        self.metrics: Any = None  # hybrid_server.metrics.registry.ServerMetrics with --metrics
        if self.config.metrics:
            from hybrid_server.metrics.registry import ServerMetrics  # prometheus-client: only when asked for

            self.metrics = ServerMetrics(self.lifecycle, self.config.metrics_path, standalone=self.config.ready_fd is None)
        self.grpc = GrpcSide(self.config, self.metrics.grpc if self.metrics is not None else None)
        self.http: HttpSide | None = None
        self.probes: HttpSide | None = None
        if self.config.with_http or self.config.probe_host:
            from hybrid_server.http.side import HttpSide  # uvicorn and Starlette: only when HTTP is served

            if self.config.with_http:
                self.http = HttpSide(self.config, self.lifecycle, http_socket, metrics=self.metrics)
            if self.config.probe_host:
                self.probes = HttpSide(self.config, self.lifecycle, probe_socket, probes_only=True, metrics=self.metrics)
        # The HTTP listeners, started and stopped together.
        self.listeners = [side for side in (self.http, self.probes) if side is not None]
        if install_signal_handlers is None:
            install_signal_handlers = threading.current_thread() is threading.main_thread()
        self.install_signal_handlers = install_signal_handlers
        self._loop: asyncio.AbstractEventLoop | None = None
        # Thread-safe views of the state, for whoever runs this server from another thread.
        self.serving = threading.Event()
        self.stopped = threading.Event()
        self.settled = threading.Event()  # serving, or stopped without ever serving

    # ------------------------------------------------------------------ public

    @property
    def state(self) -> State:
        return self.lifecycle.state

    def shutdown(self, reason: str = "shutdown requested") -> None:
        """Start a graceful drain; safe to call from any thread."""
        self._from_any_thread(self.lifecycle.request_drain, reason)

    def force(self) -> None:
        """Stop at once, as a second SIGINT does (exit code 130); safe to call from any thread."""
        self._from_any_thread(self.lifecycle.force)

    def _from_any_thread(self, function: Any, *args: Any) -> None:
        if self._loop is None:
            function(*args)
        elif not self.stopped.is_set():
            try:
                self._loop.call_soon_threadsafe(function, *args)
            except RuntimeError:  # the loop closed meanwhile: the server has stopped
                pass

    async def serve(self) -> int:
        self._loop = asyncio.get_running_loop()
        contain(self._loop)
        if self.config.banner or self.config.ready_fd is not None:  # a worker's log goes out too
            ensure_log_output()
        try:
            async with anyio.create_task_group() as tg:
                if self.install_signal_handlers:
                    await tg.start(self._watch_signals)
                code = await self._run(tg)
                tg.cancel_scope.cancel()
            return code
        finally:
            self.lifecycle.state = State.STOPPED
            self.stopped.set()
            self.settled.set()

    # ------------------------------------------------------------------ phases

    async def _run(self, tg: anyio.abc.TaskGroup) -> int:
        try:
            await self._startup(tg)
        except Exception as exc:  # whatever stops start-up: say it, release everything, exit 1
            if isinstance(exc, StartupError):
                report_error(str(exc), exc.__cause__)
            else:
                report_error(f"start-up failed: {type(exc).__name__}: {exc}", exc)
            await self._abort_startup()
            return EXIT_FAILURE
        # Everything start-up made (Django, the apps, grpc) lives as long as the process: move it
        # out of the collector's sight (gc.freeze), so collections triggered by per-call garbage
        # stay cheap; no full collection on the way to the first answer (hybrid_server/collector.py).
        settle()
        self.lifecycle.state = State.SERVING
        if self.config.banner:
            self._print_banner()  # before anyone waiting for SERVING goes on: they may read it
        self.serving.set()
        self.settled.set()
        if self.config.ready_fd is not None:
            _tell_supervisor(self.config.ready_fd, self.banner_lines())
        tg.start_soon(self._watch_grpc)
        await self.lifecycle.drain_requested.wait()
        await self._drain()
        if self.lifecycle.failure is not None:
            report_error(self.lifecycle.reason)
            code = EXIT_FAILURE
        elif self.lifecycle.force_requested.is_set():
            code = EXIT_FORCED
        else:
            code = EXIT_OK
        if self.config.banner:
            forced = ", then forced" if code == EXIT_FORCED else ""
            print(f"Stopped ({self.lifecycle.reason}{forced}), exit code {code}.", flush=True)
        return code

    async def _startup(self, tg: anyio.abc.TaskGroup) -> None:
        """Bind every listener, then start HTTP (the side whose start can still fail), then gRPC."""
        for side in self.listeners:
            side.bind()
        for side in self.listeners:
            side.build()
        await self.grpc.bind(cancelled=self.lifecycle.drain_requested.is_set)
        if self.http is not None:
            self.http.serve_rpc(self.grpc)
        for side in self.listeners:
            tg.start_soon(side.run)
        for side in self.listeners:
            await side.wait_started()
        await self.grpc.start()

    async def _abort_startup(self) -> None:
        for side in self.listeners:
            await side.abort()
        await self.grpc.stop(None)

    async def _watch_grpc(self) -> None:
        """Notice a gRPC server that terminated (or a piece of it that died) without being asked
        to, and stop the HTTP side too."""
        while self.lifecycle.state is State.SERVING:
            if await self.grpc.terminated(0.5) and self.lifecycle.state is State.SERVING:
                self.lifecycle.fail("gRPC server terminated unexpectedly")
            problem = self.grpc.broken()
            if problem and self.lifecycle.state is State.SERVING:
                self.lifecycle.fail(problem)

    async def _drain(self) -> None:
        lifecycle = self.lifecycle
        lifecycle.state = State.DRAINING
        grace = self.config.grace
        if self.config.banner:
            print(
                f"Stopping ({lifecycle.reason}): draining for {self.config.drain_delay:g}s, "
                f"then up to {grace:g}s for in-flight calls. Press CONTROL-C again to stop at once.",
                flush=True,
            )
        await self.grpc.enter_graceful_shutdown()
        if self.config.drain_delay and not lifecycle.force_requested.is_set():
            with anyio.move_on_after(self.config.drain_delay):
                await lifecycle.force_requested.wait()
        forced = lifecycle.force_requested.is_set()
        stops = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._escalate_on_force, stops)
            with stops:
                async with anyio.create_task_group() as group:
                    group.start_soon(self.grpc.stop, None if forced else grace)
                    for side in self.listeners:
                        group.start_soon(side.stop, forced)
            tg.cancel_scope.cancel()

    async def _escalate_on_force(self, stops: anyio.CancelScope) -> None:
        """A second SIGINT: cancel every call now, and stop waiting for what cannot be cancelled
        (a `def` action blocked in a thread) after a moment."""
        await self.lifecycle.force_requested.wait()
        for side in self.listeners:
            side.force()
        await self.grpc.cancel_all()
        await anyio.sleep(0.5)
        stops.cancel()

    async def _watch_signals(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        # SIGHUP (the terminal closed) drains like SIGTERM; only a second SIGINT forces.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if not self.lifecycle.drain_requested.is_set():
                    self.lifecycle.request_drain(f"received {signal.Signals(signum).name}")
                elif signum == signal.SIGINT:
                    self.lifecycle.force()

    # ------------------------------------------------------------------ output

    def banner_lines(self) -> list[str]:
        """What is listening, for the banner (a supervisor prints a worker's once for all)."""
        import django

        from hybrid_server import __version__

        config = self.config
        backend = "grpc.aio" if self.grpc.is_aio else "grpc thread pool"
        tls = " (TLS)" if config.tls is not None else ""
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        loop = "uvloop" if loop == "uvloop" else "asyncio"
        lines = [
            f"hybrid-server {__version__} (Django {django.get_version()}, {backend} on {loop}, "
            f"{config.max_workers} sync workers)",
            f"gRPC server listening on {config.grpc_host}:{self.grpc.port}{tls}",
        ]
        if self.grpc.services:
            lines.append(f"  services: {', '.join(self.grpc.services)}")
        probes = " ".join(path for path in (config.healthz_path, config.readyz_path) if path)
        metrics = f"  metrics: {config.metrics_path}" if getattr(config, "metrics", False) else ""
        if self.http is not None:
            lines.append(f"HTTP server listening on {self.http.scheme}://{self.http.host}:{self.http.port}")
            if probes:
                lines.append(f"  probes: {probes}")
            if self.http.rpc is not None and self.http.rpc.served:
                lines.append(f"  gRPC services over Connect and gRPC-Web: {len(self.http.rpc.served)} methods")
            if metrics:
                lines.append(metrics)
        if self.probes is not None:
            lines.append(f"Probes listening on http://{self.probes.host}:{self.probes.port} ({probes})")
            if metrics and self.http is None:
                lines.append(metrics)
        return lines

    def _print_banner(self) -> None:
        print("\n".join([*self.banner_lines(), QUIT_LINE]), flush=True)


QUIT_LINE = "Quit with CONTROL-C."


def _tell_supervisor(fd: int, banner: list[str]) -> None:
    """One byte says "serving"; the banner follows, for the supervisor to print once for all."""
    try:
        os.write(fd, b"1" + "\n".join(banner).encode())
        os.close(fd)
    except OSError:
        pass

"""`--workers N`: N spawned server processes on the same ports, supervised.

gRPC: every worker binds the port itself with SO_REUSEPORT (grpcio cannot adopt a bound
socket); HTTP: one socket bound here and inherited by all. Signals are passed on, every worker
drains, a worker that dies is restarted with backoff.
"""
from __future__ import annotations

import signal
import sys
import time
from typing import Any

from hybrid_server.config import Config
from hybrid_server.http.sockets import Listeners
from hybrid_server.lifecycle import EXIT_FAILURE, EXIT_FORCED, EXIT_OK
from hybrid_server.supervisors.process import ChildProcess, free_port

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
STABLE_AFTER = 10.0  # a worker alive this long resets the backoff
FORCE_PATIENCE = 2.0  # seconds a forced stop waits for workers before killing them


class _Slot:
    def __init__(self) -> None:
        self.child: ChildProcess | None = None
        self.started = 0.0
        self.backoff = BACKOFF_START
        self.restart_at: float | None = None
        self.served = False  # a worker of this slot has served once: later failures are restarts
        self.announced = False  # the current worker's readiness has been told


class WorkerSupervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.count = config.workers
        self.grpc_port = config.grpc_port or free_port(config.grpc_host)
        self.listeners = Listeners.bind(config)
        # Workers print no banner and no stop lines of their own: the supervisor speaks for all.
        self.child_options = config.options.replace(grpc_address=f"{config.grpc_host}:{self.grpc_port}", banner=False)
        self.banner_printed = False
        self.reason = ""
        self.slots = [_Slot() for _ in range(self.count)]
        self.stopping = False
        self.failed = False
        self.forced = False
        self.kill_at: float | None = None
        self.signals: list[int] = []
        self.metrics_dir: Any = None
        if config.metrics:  # prometheus-client's multiprocess mode: set up before the first spawn
            from hybrid_server.metrics.multiprocess import WorkersDirectory

            self.metrics_dir = WorkersDirectory()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signals.append(signum)

    def _spawn(self, slot: _Slot) -> None:
        child = ChildProcess(self.listeners)
        child.activate(self.child_options, self.listeners, dev=False)
        slot.child, slot.started, slot.restart_at, slot.announced = child, time.monotonic(), None, False

    def _forward(self, signum: int) -> None:
        for slot in self.slots:
            if slot.child is not None and slot.child.poll() is None:
                try:
                    slot.child.proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            if not self.stopping:
                self.stopping = True
                self.reason = f"received {signal.Signals(signum).name}"
                print(f"Supervisor received {signal.Signals(signum).name}: stopping {self.count} workers.", flush=True)
                self._forward(signal.SIGTERM)
                self._close_listener()
            elif signum == signal.SIGINT and not self.forced:
                # Stop now: a worker that took this SIGINT before the SIGTERM (pending signals
                # arrive lowest number first) would only drain, so what is left is killed soon.
                self.forced = True
                self.kill_at = time.monotonic() + FORCE_PATIENCE
                self._forward(signal.SIGINT)

    def _close_listener(self) -> None:
        """New HTTP connections are refused once draining (the workers have closed theirs)."""
        self.listeners.close()

    def _watch(self, slot: _Slot) -> None:
        child = slot.child
        now = time.monotonic()
        if child is not None and not slot.announced and child.ready:
            slot.announced = True
            if slot.served and self.banner_printed:
                print(f"Worker {child.pid} is serving.", flush=True)
            slot.served = True
        if child is not None and child.poll() is not None:
            code = child.poll()
            lived = now - slot.started
            if self.metrics_dir is not None:
                self.metrics_dir.worker_exited(child.pid)  # its in-flight and state gauges go
            if code != 0 and not child.ready and not slot.served:
                # Dying during the first start is a configuration error, not a crash to ride out;
                # a restart that fails (an OOM kill while starting) is retried with the backoff.
                print(f"Worker {child.pid} exited with code {code} during start-up; stopping.", file=sys.stderr, flush=True)
                self.failed = True
                self.stopping = True
                self._forward(signal.SIGTERM)
                self._close_listener()
                return
            if lived > STABLE_AFTER:
                slot.backoff = BACKOFF_START
            print(
                f"Worker {child.pid} exited with code {code} after {lived:.1f}s; restarting in {slot.backoff:g}s.",
                file=sys.stderr, flush=True,
            )
            slot.child, slot.restart_at = None, now + slot.backoff
            slot.backoff = min(slot.backoff * 2, BACKOFF_MAX)
        if slot.child is None and slot.restart_at is not None and now >= slot.restart_at:
            self._spawn(slot)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        sock = self.listeners.http
        http = f", HTTP on {self.config.http_host}:{sock.getsockname()[1]}" if sock is not None else ""
        try:
            for slot in self.slots:
                self._spawn(slot)
            pids = ", ".join(str(slot.child.pid) for slot in self.slots if slot.child)
            print(
                f"Supervisor started {self.count} workers (pids {pids}) on gRPC {self.config.grpc_host}:{self.grpc_port}{http}.",
                flush=True,
            )
            while not self.stopping:
                self._handle_signals()
                if self.stopping:
                    break
                for slot in self.slots:
                    self._watch(slot)
                self._print_banner_once()
                time.sleep(0.05)
            codes = []
            deadline = time.monotonic() + self.config.grace + self.config.drain_delay + 10
            for slot in self.slots:
                if slot.child is None:
                    continue
                while slot.child.poll() is None and time.monotonic() < deadline:
                    self._handle_signals()
                    if self.kill_at is not None and time.monotonic() > self.kill_at:
                        break
                    time.sleep(0.05)
                codes.append(slot.child.wait(0) if slot.child.poll() is None else slot.child.poll())
            if self.failed:
                code = EXIT_FAILURE
            elif self.forced or (codes and all(code == EXIT_FORCED for code in codes)):
                code = EXIT_FORCED  # a second Ctrl-C
            else:
                code = EXIT_OK if all(code == EXIT_OK for code in codes) else EXIT_FAILURE
            if self.config.banner:
                forced = ", then forced" if code == EXIT_FORCED else ""
                print(f"Stopped ({self.reason or 'a worker failed'}{forced}), exit code {code}.", flush=True)
            return code
        finally:
            for slot in self.slots:
                if slot.child is not None and slot.child.poll() is None:
                    slot.child.wait(0)
            self._close_listener()
            if self.metrics_dir is not None:
                self.metrics_dir.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


    def _print_banner_once(self) -> None:
        """Once every worker serves: what is listening (a worker's banner) and how to quit."""
        if self.banner_printed or not all(slot.announced for slot in self.slots):
            return
        self.banner_printed = True
        if not self.config.banner:
            return
        first = next(slot.child for slot in self.slots if slot.child is not None)
        lines = list(first.banner)
        if lines:
            lines[0] = lines[0].replace(" sync workers)", f" sync workers in each of {self.count} worker processes)")
        print("\n".join([*lines, "Quit with CONTROL-C."]), flush=True)


def run_workers(config: Config) -> int:
    return WorkerSupervisor(config).run()

"""`--dev`: a supervisor that restarts the serving child when Python files change.

The supervisor owns no event loop and imports no user code after start: the child does all
of that, so a syntax error costs a traceback, never the supervisor. Ports stay the same across
reloads: the HTTP socket is bound here once and inherited (connections wait in its backlog while
the child restarts), and a gRPC port 0 is turned into a concrete free port once. A warm standby
child (libraries imported, no user code) is always waiting, so a reload costs Django's set-up and
the hook, not interpreter start-up.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hybrid_server.config import Config
from hybrid_server.http.sockets import Listeners
from hybrid_server.supervisors.process import ChildProcess, free_port

_BROKEN_BODY = b"The server failed to start (see the console); it restarts on the next save.\n"
_BROKEN_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\nRetry-After: 1\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(_BROKEN_BODY)
    + _BROKEN_BODY
)


class BrokenAnswerer:
    """While no child serves (user code is broken), answer HTTP with 503 instead of a hang.

    Connections would otherwise wait in the inherited socket's backlog until the next good
    save. Runs only between a failed start and the next activation.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.running = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.sock is None or self.running.is_set():
            return
        self.running.set()
        self.thread = threading.Thread(target=self._serve, name="dev-503", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.running.clear()
        if self.thread is not None:
            self.thread.join(1)
            self.thread = None

    def _serve(self) -> None:
        import select

        self.sock.listen(128)
        while self.running.is_set():
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if not readable or not self.running.is_set():
                continue
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, OSError):
                continue
            try:
                conn.settimeout(0.5)
                try:
                    conn.recv(65536)
                except OSError:
                    pass
                conn.sendall(_BROKEN_RESPONSE)
            except OSError:
                pass
            finally:
                conn.close()


def watched_paths() -> list[Path]:
    """The working directory and every installed app that lives outside site-packages."""
    from django.apps import apps

    roots = {Path.cwd().resolve()}
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        if "site-packages" in path.parts or "dist-packages" in path.parts or path.is_relative_to(Path(sys.prefix).resolve()):
            continue
        roots.add(path)
    # Drop paths nested in another watched path.
    return sorted(p for p in roots if not any(p != other and p.is_relative_to(other) for other in roots))


def _python_filter() -> Any:
    from watchfiles import PythonFilter

    return PythonFilter()


class Reloader:
    def __init__(self, config: Config) -> None:
        self.config = config
        grpc_port = config.grpc_port or free_port(config.grpc_host)
        self.listeners = Listeners.bind(config)
        self.stop_event = threading.Event()
        self.active: ChildProcess | None = None
        self.standby: ChildProcess | None = None
        self.retiring: list[tuple[ChildProcess, float]] = []  # (child, kill deadline)
        self.stopping = False
        # The next child binds while its predecessor drains: it retries the gRPC port until
        # the old server has let go of it (at once, unless calls are still in flight).
        # No drain delay between reloads: nothing balances load in front of a dev server.
        self.child_options = config.options.replace(
            grpc_address=f"{config.grpc_host}:{grpc_port}", bind_retry=float("inf"), drain_delay=0,
            # What --dev turns on (the children run without it): reflection, one line per request.
            reflection=config.reflection, access_log=config.access_log,
        )
        self.broken = BrokenAnswerer(self.listeners.http)

    # ------------------------------------------------------------------ signals

    def _on_signal(self, signum: int, _frame: Any) -> None:
        # The child gets SIGTERM in any case: a terminal's Ctrl-C reaches it too (same process
        # group), but a child still starting up ignores SIGINT, and a draining one ignores a
        # second SIGTERM. A second Ctrl-C reaches the child directly and forces it.
        self.stopping = True
        self.stop_event.set()
        if self.active is not None:
            self.active.terminate()

    # ------------------------------------------------------------------ children

    def _start_active(self) -> None:
        self.broken.stop()
        child = self.standby or ChildProcess(self.listeners)
        self.standby = None
        child.activate(self.child_options, self.listeners, dev=True)
        self.active = child
        self.standby = ChildProcess(self.listeners)

    def _reload(self) -> None:
        """Stop the serving child and activate the standby at once; the two overlap briefly."""
        if self.active is not None:
            self.active.terminate()
            self.retiring.append((self.active, time.monotonic() + self.config.grace + 5))
            self.active = None
        self._start_active()

    def _reap(self) -> None:
        for child, deadline in list(self.retiring):
            if child.poll() is not None:
                self.retiring.remove((child, deadline))
            elif time.monotonic() > deadline:
                child.wait(0)
                self.retiring.remove((child, deadline))

    def _stop_all(self) -> None:
        timeout = self.config.grace + 5
        self.listeners.close()  # refuse new connections at once, as one process does
        if self.active is not None:
            self.active.terminate()
            self.retiring.append((self.active, 0.0))
            self.active = None
        for child, _ in self.retiring:
            child.wait(timeout)
        self.retiring.clear()
        if self.standby is not None:
            self.standby.discard()
            self.standby = None

    # ------------------------------------------------------------------ main loop

    def run(self) -> int:
        from watchfiles import watch

        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        paths = watched_paths()
        print(f"Watching for file changes in {', '.join(map(str, paths))}", flush=True)
        waiting_printed = False
        try:
            self._start_active()
            for changes in watch(
                *paths, watch_filter=_python_filter(), stop_event=self.stop_event, yield_on_timeout=True,
                rust_timeout=100, debounce=400, step=20, raise_interrupt=False,
            ):
                if self.stopping:
                    break
                self._reap()
                if changes:
                    names = sorted({os.path.relpath(path) for _, path in changes})
                    print(f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''} changed, reloading.", flush=True)
                    self._reload()
                    waiting_printed = False
                elif self.active is not None and self.active.poll() is not None and not waiting_printed:
                    code = self.active.poll()
                    print(f"The server exited with code {code}; waiting for a change to restart.", flush=True)
                    waiting_printed = True
                    self.broken.start()
            return 0
        finally:
            self.broken.stop()
            self._stop_all()
            self.listeners.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_reloader(config: Config) -> int:
    return Reloader(config).run()

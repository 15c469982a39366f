"""Real server commands in subprocesses, for tests and benchmarks whose subject is a process
(signals, supervisors, commands, the banner).

Every `ServerProcess` runs in a session of its own with its output collected, and is always
stopped: SIGTERM, then SIGKILL of its whole process group, by `stop()`, by the `with` block, by
`ServerGroup` and, for whatever is left, at interpreter exit. Waiting is on the output itself
(a condition the reader thread notifies), with a deadline that raises `ServerProcessError`.

Standard library only: importing this module costs nothing of the engine.
"""
from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

READY_LINE = re.compile(r"Quit with CONTROL-C")
GRPC_LINE = re.compile(r"gRPC server listening on (\S+):(\d+)")
HTTP_LINE = re.compile(r"HTTP server listening on (https?)://(\S+):(\d+)")
UVICORN_LINE = re.compile(r"Uvicorn running on (https?)://(\S+):(\d+)")

Pattern = str | re.Pattern[str]


class ServerProcessError(RuntimeError):
    """The process exited or timed out before what was awaited; the message carries its output."""


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its Django settings (manage.py picks its own),
    unbuffered output, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **(extra or {})}


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for a test that must name the port up front)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


# --------------------------------------------------------------------------- the live set

_LIVE: set[ServerProcess] = set()
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every process started here that is still registered (also run at exit)."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


atexit.register(stop_all)


class ServerProcess:
    """`with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", cwd=project) as server:`

    `args` is the command line; `cpus` (e.g. "0" or "0-1") pins it with taskset, which execs,
    so `pid` is the server's own. `ready` is the line `wait_ready()` counts (one per serving
    process: a supervisor of N workers prints it N times).
    """

    def __init__(self, args: Sequence[str], cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
                 *, cpus: str | None = None, label: str = "", ready: Pattern = READY_LINE) -> None:
        self.args = [*(["taskset", "-c", cpus] if cpus is not None else []), *args]
        self.cwd = Path(cwd) if cwd is not None else None
        self.env = clean_environ(env)
        self.label = label or " ".join(str(arg) for arg in args[1:3])
        self.ready = re.compile(ready) if isinstance(ready, str) else ready
        self.proc: subprocess.Popen[str] | None = None
        self.started_at = 0.0
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None
        self._exit_seen: float | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.http_scheme = "http"

    @classmethod
    def manage(cls, *command: str, cwd: str | Path, env: Mapping[str, str] | None = None,
               **kwargs: Any) -> ServerProcess:
        """`python manage.py <command...>` in the project directory `cwd`."""
        return cls([sys.executable, "manage.py", *command], cwd=cwd, env=env, **kwargs)

    # ------------------------------------------------------------------ running

    def start(self) -> ServerProcess:
        if self.proc is not None:
            raise ServerProcessError(f"{self.label}: already started")
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, stdin=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, name=f"output of {self.proc.pid}", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        self.proc.wait()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerProcessError(f"{self.label}: not started")
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs."""
        return None if self.proc is None else self.proc.poll()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def tail(self, chars: int = 3000) -> str:
        return self.output[-chars:]

    def _finished(self) -> bool:
        """Exited, and its output read to the end (or, when a leftover child holds the pipe open,
        a second has passed since the exit was seen)."""
        if self.proc is None or self.proc.poll() is None:
            return False
        if self._reader is None or not self._reader.is_alive():
            return True
        now = time.monotonic()
        self._exit_seen = self._exit_seen or now
        return now - self._exit_seen > 1.0

    def mark(self) -> int:
        """The number of lines so far: `wait_for(..., since=mark)` looks only at later ones."""
        with self._changed:
            return len(self.lines)

    def wait_for(self, pattern: Pattern, timeout: float = 30.0, count: int = 1, since: int = 0) -> re.Match[str]:
        """The `count`-th match of `pattern` in the output (from line `since` on), waiting up to
        `timeout` seconds for it."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matches = list(regex.finditer("\n".join(self.lines[since:])))
                if len(matches) >= count:
                    return matches[count - 1]
                if self._finished():
                    raise ServerProcessError(
                        f"{self.label}: exited ({self.returncode}) before {regex.pattern!r}"
                        f"{f' x{count}' if count > 1 else ''}:\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerProcessError(
                        f"{self.label}: {regex.pattern!r}{f' x{count}' if count > 1 else ''} not seen "
                        f"within {timeout:g}s:\n{self.tail()}")
                # Woken by each new line and at exit; the cap covers an exit whose pipe a child keeps open.
                self._changed.wait(min(left, 0.5))

    def wait_ready(self, timeout: float = 30.0, banners: int = 1) -> ServerProcess:
        """Wait for `banners` ready lines, then read the bound ports from the banner."""
        self.wait_for(self.ready, timeout, count=banners)
        output = self.output
        grpc_match = GRPC_LINE.search(output)
        if grpc_match:
            self.grpc_port = int(grpc_match.group(2))
        http_match = HTTP_LINE.search(output) or UVICORN_LINE.search(output)
        if http_match:
            self.http_scheme, self.http_port = http_match.group(1), int(http_match.group(3))
        return self

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"{self.http_scheme}://127.0.0.1:{self.http_port}"

    def rss_kib(self) -> int:
        """VmRSS of the process (kB), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ServerProcessError(f"{self.label}: no VmRSS for {self.pid}")

    # ------------------------------------------------------------------ stopping

    def signal(self, signum: int, group: bool = False) -> None:
        """Send `signum` to the process, or (`group`) to its whole session, as a terminal would."""
        if group:
            os.killpg(self.pid, signum)
        else:
            os.kill(self.pid, signum)

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code; `ServerProcessError` if it is still running after `timeout` seconds."""
        if self.proc is None:
            raise ServerProcessError(f"{self.label}: not started")
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerProcessError(f"{self.label}: still running after {timeout:g}s:\n{self.tail()}") from None
        if self._reader is not None:
            self._reader.join(5)  # the last lines it wrote
        return code

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL of the whole session: no process outlives its test or benchmark."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                    self.proc.wait(timeout)
                except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
                    pass
            try:  # what is left of the session: workers, a reloader's child
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stdout is not None and self._reader is not None:
                self._reader.join(1)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def __enter__(self) -> ServerProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.label!r} pid={self.proc.pid if self.proc else None} rc={self.returncode}>"


class ServerGroup:
    """Several servers started together and stopped together (last first). On an error inside
    the block, each one's last lines go to `log` (for the benchmarks' interleaved runs)."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self.log = log
        self.items: list[ServerProcess] = []

    def add(self, server: ServerProcess, banners: int = 1, timeout: float = 60.0) -> ServerProcess:
        self.items.append(server)
        server.start()
        server.wait_ready(timeout, banners)
        return server

    def __enter__(self) -> ServerGroup:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if self.log is not None and exc_type is not None and exc_type is not KeyboardInterrupt:
            for server in self.items:
                self.log(f"--- {server.label} output (last lines):\n{server.tail(1500)}")
        for server in reversed(self.items):
            server.stop()

"""Start the real commands in subprocesses and stop them, whatever happens in the test."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTPROJECT = ROOT / "tests" / "testproject"
EXAMPLE = ROOT / "example"

GRPC_LINE = re.compile(r"gRPC server listening on (\S+):(\d+)")
HTTP_LINE = re.compile(r"HTTP server listening on (https?)://(\S+):(\d+)")


def clean_environ() -> dict[str, str]:
    """The test run's environment minus its Django settings: manage.py picks its own."""
    return {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}


class ServerProcess:
    """A server command in its own session; output collected; always stopped on exit."""

    def __init__(self, args: list[str], cwd: Path = TESTPROJECT, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.cwd = cwd
        self.env = {**clean_environ(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    @classmethod
    def manage(cls, *command: str, cwd: Path = TESTPROJECT, env: dict[str, str] | None = None) -> "ServerProcess":
        return cls([sys.executable, "manage.py", *command], cwd=cwd, env=env)

    def start(self) -> "ServerProcess":
        self.proc = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, stdin=subprocess.DEVNULL,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = regex.search(self.output)
            if match:
                return match
            if self.proc is not None and self.proc.poll() is not None:
                time.sleep(0.1)
                match = regex.search(self.output)
                if match:
                    return match
                raise AssertionError(f"process exited ({self.proc.returncode}) before {regex.pattern!r}:\n{self.output}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {regex.pattern!r}:\n{self.output}")

    def wait_ready(self, timeout: float = 30.0) -> "ServerProcess":
        self.wait_for("Quit with CONTROL-C", timeout)
        grpc_match = GRPC_LINE.search(self.output)
        assert grpc_match, self.output
        self.grpc_port = int(grpc_match.group(2))
        http_match = HTTP_LINE.search(self.output)
        if http_match:
            self.http_port = int(http_match.group(3))
        return self

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def signal(self, signum: int, group: bool = False) -> None:
        assert self.proc is not None
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL of the whole session: no process outlives the test."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0

"""Supervised server processes: spawned (never forked after grpc is loaded), handed their orders."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from hybrid_server.http.sockets import Listeners
from hybrid_server.options import Options
from hybrid_server.supervisors.child import Orders


def free_port(host: str) -> int:
    """A port that is free now, so that every child binds the same one (port 0 asked)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((bare, 0))
        return sock.getsockname()[1]


class ChildProcess:
    """One `python -m hybrid_server.supervisors.child`, started as a warm standby.

    It inherits only the shared listening sockets (`listeners`), nothing else of the supervisor's.
    """

    def __init__(self, listeners: Listeners) -> None:
        # The child writes one byte here once it serves: a failed start is told from a crash.
        ready_read, ready_write = os.pipe()
        self._ready_read: int | None = ready_read
        os.set_blocking(ready_read, False)
        fds = (ready_write, *listeners.fds().values())
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hybrid_server.supervisors.child"],
                stdin=subprocess.PIPE,
                pass_fds=fds,
            )
        finally:
            os.close(ready_write)
        self._ready_write = ready_write
        self._ready = False
        self.banner: list[str] = []  # what the child said is listening, once it serves
        self.activated = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def activate(self, options: Options, listeners: Listeners, dev: bool) -> None:
        """Hand the standby its orders: `options` name the gRPC address to bind (a fixed port)."""
        orders = Orders(
            options=options.replace(ready_fd=self._ready_write, dev=False),
            fds=listeners.fds(),
            sys_path=[entry for entry in sys.path if entry],
            dev=dev,
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(orders.encode())
        self.proc.stdin.close()
        self.activated = True

    @property
    def ready(self) -> bool:
        """True once the child has served (its HybridServer reached SERVING)."""
        if self._ready_read is not None:
            try:
                data = os.read(self._ready_read, 65536)
            except BlockingIOError:
                return False
            self._ready = data[:1] == b"1"  # b"" is EOF: the child exited without serving
            self.banner = data[1:].decode(errors="replace").splitlines()
            self._close_ready()
        return self._ready

    def _close_ready(self) -> None:
        if self._ready_read is not None:
            os.close(self._ready_read)
            self._ready_read = None

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None:
            self.ready  # noqa: B018 - a byte written just before exiting still counts
        return code

    def discard(self) -> None:
        """End a standby that was never activated."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.wait(5)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> int:
        """Wait up to `timeout`, then kill: no child outlives its supervisor."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.ready  # noqa: B018 - read (or close) the readiness pipe

    def stop(self, timeout: float) -> int:
        if not self.activated:
            self.discard()
            return self.proc.wait()
        self.terminate()
        return self.wait(timeout)

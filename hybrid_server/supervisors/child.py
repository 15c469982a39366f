"""Entry point of a supervised server process: `python -m hybrid_server.supervisors.child`.

A child starts as a standby: it imports the heavy libraries (grpc, Django, uvicorn) but no
user code, then waits for one line on stdin carrying its orders. That keeps a reload down to
Django's set-up and the hook. EOF on stdin means "not needed": exit 0 quietly.
"""
from __future__ import annotations

import atexit
import base64
import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class Orders:
    options: Any  # hybrid_server.Options, with the gRPC port fixed by the supervisor
    fds: dict[str, int]  # inherited listening sockets: "http", "probe"
    sys_path: list[str]
    dev: bool

    def encode(self) -> bytes:
        return base64.b64encode(pickle.dumps(self)) + b"\n"

    @staticmethod
    def decode(line: bytes) -> Orders:
        return pickle.loads(base64.b64decode(line))


def _preload() -> None:
    import anyio  # noqa: F401
    import django
    import django.core.asgi
    import django.core.handlers.asgi
    import django.db.models  # noqa: F401
    import grpc
    import grpc.aio  # noqa: F401
    import grpc_health.v1.health  # noqa: F401
    import uvicorn
    import uvicorn.protocols.http.h11_impl  # noqa: F401

    import hybrid_server.server
    import hybrid_server.serving  # noqa: F401

    for optional in ("uvloop", "uvicorn.protocols.http.httptools_impl"):
        try:
            __import__(optional)
        except ImportError:
            pass


def _serve(orders: Orders) -> int:
    for entry in reversed(orders.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    from hybrid_server.http.sockets import Listeners
    from hybrid_server.serving import serve_options

    return serve_options(orders.options, Listeners.adopt(orders.fds), dev_checks=orders.dev)


def _die_with_parent() -> None:
    """Linux: a SIGTERM (a graceful drain) when the supervisor dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


def main() -> int:
    # The terminal's Ctrl-C reaches the whole group: a child leaves stopping to its supervisor,
    # which sends SIGTERM, until the engine's own handler takes over (standby: closed stdin).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _preload()
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0
    orders = Orders.decode(line)
    try:
        return _serve(orders)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    code = main()
    # The server has drained and closed its ports. Exit handlers run, as in a process that
    # returns from the command (an exporter's last flush: the final spans and metrics of a
    # worker survive its stop); the interpreter teardown is skipped (grpc's takes a few hundred
    # ms, and a `def` action past its grace would hold it) so that a reload or a restart is not
    # kept waiting.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

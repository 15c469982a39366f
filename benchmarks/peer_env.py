"""The peer: django-socio-grpc 0.25 from the package index, in benchmarks/.peer-venv.

The venv is created (and the packages installed) the first time a section needs it, with the
versions of grpcio, grpcio-tools, protobuf, Django, djangorestframework, asgiref and
grpcio-health-checking that our own venv has, so the comparison is between the two
frameworks, not between two grpc releases. Its project, benchmarks/peer, is the test
project's equivalent (same apps and middleware, the same BenchService), with its protos made
by its own `generateproto`. When the venv cannot be made (no package index), the peer rows
say so and the rest of the run goes on.
"""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import BENCH_DIR, Server, check_echo, clean_environ

from hybrid_server.testing.process import free_port

PEER_DIR = BENCH_DIR / "peer"
VENV = BENCH_DIR / ".peer-venv"
PEER_PYTHON = VENV / "bin" / "python"
PEER_PACKAGE = "django-socio-grpc==0.25.*"
PINNED = ("grpcio", "grpcio-tools", "protobuf", "Django", "djangorestframework", "asgiref", "grpcio-health-checking")
READY = r"is now ready to accept incoming request"
STAMP = VENV / ".bench-requirements"

_state: dict[str, Any] = {}


def requirements() -> list[str]:
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return [PEER_PACKAGE, *pins]


def _install(log: Any) -> None:
    wanted = "\n".join(requirements())
    if PEER_PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    log(f"  [peer] installing {PEER_PACKAGE} into benchmarks/.peer-venv (first use)")
    if not PEER_PYTHON.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(VENV)], check=True, timeout=300, capture_output=True)
    done = subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           *requirements()], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"pip install failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    STAMP.write_text(wanted)


def _generate(log: Any) -> None:
    grpc_dir = PEER_DIR / "testapp" / "grpc"
    stub = grpc_dir / "testapp_pb2_grpc.py"
    service = PEER_DIR / "testapp" / "services" / "bench_service.py"
    if stub.exists() and stub.stat().st_mtime >= service.stat().st_mtime and STAMP.stat().st_mtime <= stub.stat().st_mtime:
        return
    log("  [peer] generating its protos (its own manage.py generateproto)")
    done = subprocess.run([str(PEER_PYTHON), "manage.py", "generateproto"], cwd=PEER_DIR, capture_output=True,
                          text=True, timeout=300, env=clean_environ())
    if done.returncode != 0 or not stub.exists():
        raise RuntimeError(f"generateproto failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def python(log: Any) -> Path | None:
    """The peer venv's python, ready to serve benchmarks/peer; None (and why, logged once) when
    it cannot be had."""
    if "python" not in _state:
        try:
            _install(log)
            _generate(log)
            _state["python"] = PEER_PYTHON
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _state["python"] = None
            _state["error"] = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
            log(f"  [peer] django-socio-grpc unavailable, its rows are left out: {_state['error']}")
    return _state["python"]


def unavailable_reason() -> str | None:
    return _state.get("error")


def version() -> str:
    done = subprocess.run([str(PEER_PYTHON), "-c", "import importlib.metadata as m; print(m.version('django-socio-grpc'))"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or "?"


class PeerServer(Server):
    """`manage.py grpcrunaioserver|grpcrunserver 127.0.0.1:PORT` of benchmarks/peer on the peer venv,
    pinned like ours. It prints no banner of ours: ready at its own start line, on the port
    chosen up front."""

    def __init__(self, command: str, env: dict[str, str] | None = None, label: str = "", port: int | None = None,
                 cpu: int | None = 0) -> None:
        self.chosen_port = port or free_port()
        super().__init__([str(PEER_PYTHON), "manage.py", command, f"127.0.0.1:{self.chosen_port}"], cwd=PEER_DIR,
                         env=env, cpu=cpu, label=label or f"django-socio-grpc {command}")
        import re

        self.ready = re.compile(READY)

    def wait_ready(self, timeout: float = 30.0, banners: int = 1) -> PeerServer:
        self.wait_for(self.ready, timeout, count=banners)
        self.grpc_port = self.chosen_port
        return self


def failure_of(target: str, action: str = "Echo") -> str | None:
    """None when `action` answers correctly, else what the client saw (the peer's grpcrunserver
    fails every call: `context.trailing_metadata()` is None on sync grpc)."""
    import grpc

    try:
        check_echo(target, action)
    except grpc.RpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    return None

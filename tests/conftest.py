"""Fixtures of the whole suite: the test project's protos and database, and real server commands
in subprocesses (`hybrid_server.testing.ServerProcess`) for the tests whose subject is a process."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hybrid_server.testing.process import ServerProcess, clean_environ

ROOT = Path(__file__).resolve().parent.parent
TESTPROJECT = ROOT / "tests" / "testproject"
EXAMPLE = ROOT / "example"

StartServer = Callable[..., ServerProcess]


def _prepare(cwd: Path, env: dict[str, str], shared: Path) -> None:
    """`manage.py generateproto` and `migrate` of the project in `cwd`, in one process.

    Under pytest-xdist every worker migrates its own database but the protos are written into
    the source tree, once: the first worker generates them holding a lock in the run's shared
    temporary directory, the others wait on the lock, then only migrate (writing the same files
    while another worker imports them, or while a `--dev` server watches the tree, would break
    both)."""
    generate = "call_command('generateproto'); "
    with open(shared / f"{cwd.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / f"{cwd.name}.generated"
        code = "from django.core.management import call_command; " + ("" if done.exists() else generate) + \
               "call_command('migrate', interactive=False, verbosity=0)"
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code], cwd=cwd, env=clean_environ(env),
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, f"generateproto + migrate in {cwd} failed:\n{result.stdout}\n{result.stderr}"
        done.touch()


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's temporary directory, common to the xdist workers (each has its own below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def testproject_dir() -> Path:
    return TESTPROJECT


@pytest.fixture(scope="session")
def example_dir() -> Path:
    return EXAMPLE


@pytest.fixture(scope="session")
def testproject_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Protos generated and a migrated SQLite database, once per session; the environment of
    the test project's servers."""
    db = tmp_path_factory.mktemp("testproject") / "db.sqlite3"
    env = {"TESTPROJECT_DB": str(db)}
    _prepare(TESTPROJECT, env, _shared_dir(tmp_path_factory))
    return env


@pytest.fixture(scope="session")
def pb(testproject_env: dict[str, str]) -> tuple[Any, Any]:
    from testapp.grpc import testapp_pb2, testapp_pb2_grpc

    return testapp_pb2, testapp_pb2_grpc


def _starter(testproject_env: dict[str, str], started: list[ServerProcess]) -> StartServer:
    def start(*command: str, env: dict[str, str] | None = None, ready: bool = True, cwd: Path = TESTPROJECT,
              banners: int = 1) -> ServerProcess:
        """`manage.py <command...>` of the test project (or of `cwd`), started; with `ready`,
        once it printed its banner (`banners` times: one per worker)."""
        server = ServerProcess.manage(*command, cwd=cwd, env={**testproject_env, **(env or {})})
        started.append(server)
        server.start()
        if ready:
            server.wait_ready(banners=banners)
        return server

    return start


@pytest.fixture
def start_server(testproject_env: dict[str, str]) -> Iterator[StartServer]:
    """Start `manage.py <command> ...` of the test project; every one is stopped after the test."""
    started: list[ServerProcess] = []
    yield _starter(testproject_env, started)
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="module")
def start_shared_server(testproject_env: dict[str, str]) -> Iterator[StartServer]:
    """`start_server` for servers that the read-only tests of one module share; stopped at its end."""
    started: list[ServerProcess] = []
    yield _starter(testproject_env, started)
    for server in reversed(started):
        server.stop()


@pytest.fixture
def channel_to() -> Iterator[Callable[[ServerProcess], grpc.Channel]]:
    """`channel_to(server)`: a channel to the server's gRPC port, closed after the test."""
    channels: list[grpc.Channel] = []

    def connect(server: ServerProcess) -> grpc.Channel:
        channel = grpc.insecure_channel(server.grpc_target)
        channels.append(channel)
        return channel

    yield connect
    for channel in channels:
        channel.close()


@pytest.fixture(scope="session")
def example_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example project's protos and a migrated database, once per session."""
    db = tmp_path_factory.mktemp("example") / "db.sqlite3"
    env = {"EXAMPLE_DB": str(db)}
    _prepare(EXAMPLE, env, _shared_dir(tmp_path_factory))
    return env

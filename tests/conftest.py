from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import grpc
import pytest

from tests.procs import EXAMPLE, TESTPROJECT, ServerProcess, clean_environ


def _manage(cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env={**clean_environ(), **(env or {})},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def testproject_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Protos generated and a migrated SQLite database, once per session."""
    db = tmp_path_factory.mktemp("testproject") / "db.sqlite3"
    env = {"TESTPROJECT_DB": str(db)}
    _manage(TESTPROJECT, "generateproto", env=env)
    _manage(TESTPROJECT, "migrate", "--noinput", env=env)
    return env


@pytest.fixture(scope="session")
def pb(testproject_env: dict[str, str]):
    from testapp.grpc import testapp_pb2, testapp_pb2_grpc

    return testapp_pb2, testapp_pb2_grpc


@pytest.fixture
def start_server(testproject_env: dict[str, str]) -> Iterator[Callable[..., ServerProcess]]:
    """Start `manage.py <command> ...` of the test project; every one is stopped after the test."""
    started: list[ServerProcess] = []

    def start(*command: str, env: dict[str, str] | None = None, ready: bool = True, cwd: Path = TESTPROJECT) -> ServerProcess:
        server = ServerProcess.manage(*command, cwd=cwd, env={**testproject_env, **(env or {})})
        started.append(server)
        server.start()
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def channel_to() -> Iterator[Callable[[ServerProcess], grpc.Channel]]:
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
    db = tmp_path_factory.mktemp("example") / "db.sqlite3"
    env = {"EXAMPLE_DB": str(db)}
    _manage(EXAMPLE, "generateproto", env=env)
    _manage(EXAMPLE, "migrate", "--noinput", env=env)
    return env

"""Fixtures of the engine tests: live servers in this process, and release gates for holds.

A live server (`hybrid_server.testing.LiveServer`) is a real `HybridServer` in a thread of the
test process on 127.0.0.1:0. Modules share one per backend where their tests only read;
`live` starts one for a single test and stops it afterwards.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hybrid_server.testing import LiveServer
from tests.engine.support import Gate


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # grpc.aio does not run under trio


@pytest.fixture
def live(pb: Any) -> Iterator[Callable[..., LiveServer]]:
    """`live(**options)` starts a LiveServer (Options fields) for this test; all are stopped after it."""
    started: list[LiveServer] = []

    def start(**options: Any) -> LiveServer:
        server = LiveServer(**options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path / "release")

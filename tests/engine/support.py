"""Helpers of the engine tests (client side of the test project's hold actions)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from hybrid_server.testing import LiveServer

BACKENDS = ["aio", "threads"]
PROBE = "testproject.testapp.ProbeServiceController"
ITEM = "testproject.testapp.ItemController"
DEADLINE = 20.0  # seconds any single wait of a test may take before it fails the test


def force(server: LiveServer) -> None:
    """A second SIGINT, as the engine's own signal watcher gives it: stop without waiting."""
    server.server.force()


class Gate:
    """The release file of a `HoldAsync`/`HoldSync` action: it waits until the file exists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def request(self, pb2: Any, seconds: float = DEADLINE) -> Any:
        return pb2.ProbeMessage(message=str(self.path), seconds=seconds)

    def release(self) -> None:
        self.path.touch()


def hold(stub: Any, action: str, gate: Gate, pb2: Any) -> tuple[Any, Any]:
    """Start a hold and wait (bounded by the call's deadline) until the server says it runs.

    Returns the call and its "started" message (count: holds running then, thread)."""
    call = getattr(stub, action)(gate.request(pb2), timeout=DEADLINE)
    started = next(call)
    assert started.message == "started"
    return call, started


def finish(call: Any) -> list[str]:
    """The rest of a hold's stream, after its release."""
    return [reply.message for reply in call]


def status_of(callable_: Callable[[], Any]) -> grpc.StatusCode:
    try:
        callable_()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK

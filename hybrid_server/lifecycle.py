"""The one state both sides read: STARTING -> SERVING -> DRAINING -> STOPPED."""
from __future__ import annotations

import enum

import anyio


class State(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    DRAINING = "draining"
    STOPPED = "stopped"


class StartupError(Exception):
    """The server cannot start; the message says what and where. Exit code 1."""

    def _with(self, cause: BaseException) -> "StartupError":
        self.__cause__ = cause
        return self


class Lifecycle:
    """Owned by `HybridServer`; the sides only read `state` and the events."""

    def __init__(self) -> None:
        self.state = State.STARTING
        self.drain_requested = anyio.Event()
        self.force_requested = anyio.Event()
        self.reason: str = ""
        self.failure: BaseException | None = None

    @property
    def ready(self) -> bool:
        return self.state is State.SERVING

    def request_drain(self, reason: str) -> None:
        if not self.drain_requested.is_set():
            self.reason = reason
            self.drain_requested.set()

    def fail(self, reason: str, error: BaseException | None = None) -> None:
        """A side failed while running: drain the other one and exit non-zero."""
        if self.failure is None:
            self.failure = error or RuntimeError(reason)
        self.request_drain(reason)

    def force(self) -> None:
        self.request_drain("forced stop")
        self.force_requested.set()

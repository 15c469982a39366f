"""The one state both sides read (STARTING -> SERVING -> DRAINING -> STOPPED), exit codes, and
the one writer of `Error: ...` lines."""
from __future__ import annotations

import enum
import sys
import traceback
from collections.abc import Callable

import anyio

EXIT_OK = 0
EXIT_FAILURE = 1  # could not start, or a side failed while serving
EXIT_FORCED = 130  # a second SIGINT stopped without waiting (128 + SIGINT, as shells report it)


class State(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    DRAINING = "draining"
    STOPPED = "stopped"


class StartupError(Exception):
    """The server cannot start; the message says what and where. Exit code 1."""


def report_error(message: str, cause: BaseException | None = None) -> None:
    """`Error: <message>` on stderr; the cause's traceback first when it is a bug rather than
    an environment problem (a busy port, a missing file)."""
    if cause is not None and not isinstance(cause, (OSError, RuntimeError)):
        traceback.print_exception(cause, file=sys.stderr)
    print(f"Error: {message}", file=sys.stderr, flush=True)


class Lifecycle:
    """Owned by `HybridServer`; the sides only read `state` and the events."""

    def __init__(self) -> None:
        self._state = State.STARTING
        self.watchers: list[Callable[[State], None]] = []  # told every change of state (metrics)
        self.drain_requested = anyio.Event()
        self.force_requested = anyio.Event()
        self.reason: str = ""
        self.failure: BaseException | None = None

    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        self._state = state
        for watcher in self.watchers:
            watcher(state)

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

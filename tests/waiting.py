"""Waiting for what a server does in its own threads or processes: a bounded poll, never a sleep
that hopes. A wait that runs out fails the test with what was being waited for."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], what: str, timeout: float = 20.0, interval: float = 0.01) -> Any:
    """Returns what `check()` returned once it held."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)
    return result

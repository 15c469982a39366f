"""Test machinery shared by users' tests, our own suite and the benchmarks.

- `LiveServer`: a real `HybridServer` in a thread of this process (in-process tests).
- `HybridTestCase`: Django's `LiveServerTestCase` for a hybrid server (`testcase.py`; imported
  on first use, it needs Django's settings).
- the pytest fixtures `hybrid_server`, `grpc_channel`, `grpc_stub`, `hybrid_http`
  (`pytest_plugin.py`, registered through the package's `pytest11` entry point).
- `ServerProcess`: a real server command in a subprocess, for tests whose subject is a process
  (signals, supervisors, commands, the banner); `ServerGroup` starts and stops several.
"""
from __future__ import annotations

from typing import Any

from hybrid_server.testing.live import LiveServer, LiveServerError
from hybrid_server.testing.process import ServerGroup, ServerProcess, ServerProcessError

__all__ = ["HybridTestCase", "LiveServer", "LiveServerError", "ServerGroup", "ServerProcess", "ServerProcessError"]


def __getattr__(name: str) -> Any:
    if name == "HybridTestCase":
        from hybrid_server.testing.testcase import HybridTestCase

        return HybridTestCase
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Test machinery shared by users' tests, our own suite and the benchmarks.

- `LiveServer`: a real `HybridServer` in a thread of this process (in-process tests).
- `ServerProcess` (`hybrid_server.testing.process`): a real server command in a subprocess,
  for tests whose subject is a process (signals, supervisors, commands, the banner).
"""
from hybrid_server.testing.live import LiveServer, LiveServerError

__all__ = ["LiveServer", "LiveServerError"]

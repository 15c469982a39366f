"""Test machinery shared by users' tests, our own suite and the benchmarks.

- `LiveServer`: a real `HybridServer` in a thread of this process (in-process tests).
- `ServerProcess`: a real server command in a subprocess, for tests whose subject is a process
  (signals, supervisors, commands, the banner); `ServerGroup` starts and stops several.
"""
from hybrid_server.testing.live import LiveServer, LiveServerError
from hybrid_server.testing.process import ServerGroup, ServerProcess, ServerProcessError

__all__ = ["LiveServer", "LiveServerError", "ServerGroup", "ServerProcess", "ServerProcessError"]

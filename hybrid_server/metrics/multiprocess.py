"""prometheus-client's multiprocess mode, for `--workers N`.

prometheus-client keeps every value in memory unless `PROMETHEUS_MULTIPROC_DIR` is set when it
is imported; then each process writes its values to files there, and a scrape of any process
reads all of them. The workers supervisor, before it spawns a worker, sets that directory up
(the one given in the environment, else a temporary one it removes at exit), wipes what an
earlier run left there (it would be summed in), and hands it on in the environment; it
removes a dead worker's live gauges (`mark_process_dead`), so in-flight figures and states
count live workers only. A single serving process given the variable wipes it itself.

Standard library only until a worker dies: the supervisor imports no prometheus-client to start.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> str | None:
    return os.environ.get(ENV) or None


def wipe(path: str, keep_pid: int | None = None) -> None:
    """Remove the value files of every process but `keep_pid` (whose files may be open)."""
    keep = f"_{keep_pid}.db"
    for name in glob.glob(os.path.join(path, "*.db")):
        if keep_pid is None or not name.endswith(keep):
            try:
                os.remove(name)
            except FileNotFoundError:
                pass


def live_pids(path: str) -> list[int]:
    """The processes that have live gauges in `path` (every serving process has its state gauge)."""
    pids = set()
    for name in glob.glob(os.path.join(path, "gauge_livesum_*.db")):
        text = os.path.basename(name)[len("gauge_livesum_"):-len(".db")]
        if text.isdigit():
            pids.add(int(text))
    return sorted(pids)


class WorkersDirectory:
    """The supervisor's side: set up before the first spawn, `worker_exited` for each death."""

    def __init__(self) -> None:
        given = directory()
        self.created = given is None
        self.path = given or tempfile.mkdtemp(prefix="hybrid-server-metrics-")
        os.makedirs(self.path, exist_ok=True)
        wipe(self.path, keep_pid=os.getpid())
        self._previous = os.environ.get(ENV)
        os.environ[ENV] = self.path  # spawned workers inherit it before they import prometheus-client

    def worker_exited(self, pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.path)

    def close(self) -> None:
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            if self._previous is None:
                os.environ.pop(ENV, None)

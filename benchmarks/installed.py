"""Our server as a user's install runs it, for the start-up section.

The project's venv holds hybrid-server as an *editable* install: setuptools' `.pth` hook
imports its finder (and pathlib, urllib, fnmatch, ...) at every interpreter start, ~15 ms on
the benchmark machine that no wheel install pays. `python()` makes benchmarks/.ours-venv
(gitignored; no packages of its own) whose one `.pth` puts the repository and the project
venv's site-packages on `sys.path` as plain entries: the same code and the same dependencies,
found the way an installed package is, and that venv's own `.pth` hooks are not run (a `.pth`
line only adds a path). Made again on every run (milliseconds): it cannot go stale.
"""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from common import BENCH_DIR, ROOT

VENV = BENCH_DIR / ".ours-venv"
PTH = "hybrid-server-bench.pth"


def python() -> Path:
    """The interpreter of benchmarks/.ours-venv, made (or refreshed) now."""
    interpreter = VENV / "bin" / "python"
    if not interpreter.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--without-pip", str(VENV)], check=True, timeout=120, capture_output=True)
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    site = subprocess.run([str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, timeout=60, capture_output=True, text=True).stdout.strip()
    (Path(site) / PTH).write_text("\n".join([str(ROOT), *sorted(ours)]) + "\n")
    return interpreter

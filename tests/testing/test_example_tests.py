"""The example project's own tests (example/library/tests: pytest style, HybridTestCase and
FakeFullAIOGRPC), run as its users run them: `pytest` in example/, in a subprocess (the example
has its own settings module). Django's `manage.py test` runs the TestCase ones as well; that
runner is exercised on the new project of test_new_project.py."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hybrid_server.testing.process import clean_environ

TIMEOUT = 120


def test_the_examples_tests_pass(example_dir: Path, example_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=example_dir, env=clean_environ(example_env),
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"pytest failed in example/:\n{result.stdout}\n{result.stderr}"
    assert re.search(r"\b14 passed\b", result.stdout), result.stdout

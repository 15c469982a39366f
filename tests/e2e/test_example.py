"""The example project end to end: its client calls every action, its Django pages answer.
One example server for the module (the tests only read from it, apart from the client's books)."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hybrid_server.testing.process import ServerProcess, clean_environ, free_port


@pytest.fixture(scope="module")
def example_server(example_dir: Path, example_env: dict[str, str]) -> Iterator[ServerProcess]:
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0",
                              cwd=example_dir, env=example_env) as server:
        server.wait_ready()
        assert server.http_port, server.output
        yield server


def run_client(example_dir: Path, example_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(example_dir / "client.py"), *args],
        cwd=example_dir.parent, env=clean_environ(example_env),
        capture_output=True, text=True, timeout=60,
    )


def test_client_calls_every_action(example_server: ServerProcess, example_dir: Path, example_env: dict[str, str]) -> None:
    result = run_client(example_dir, example_env, "--target", example_server.grpc_target)
    out = result.stdout
    assert result.returncode == 0, f"client failed:\n{out}\n{result.stderr}\n--- server:\n{example_server.output}"
    assert re.search(r"Create -> #\d+ 'Dune' by Frank Herbert, 1965", out), out
    assert re.search(r"Retrieve\(\d+\) -> #\d+ 'Dune' by Frank Herbert, 1965 created \d{4}-", out), out
    assert re.search(r"Retrieve\(missing\) -> NOT_FOUND: .*no book with id", out), out  # details: plain or JSON
    assert re.search(r"CreateMany -> created 3 books, ids \[\d+, \d+, \d+\]", out), out
    assert re.search(r"List -> \d+ books", out), out
    for title in ("Dune", "Neuromancer", "Hyperion", "Solaris"):
        assert f"'{title}' by" in out.split("List ->", 1)[1], out
    assert "Chat ['hello', 'hybrid', 'server'] -> ['HELLO', 'HYBRID', 'SERVER']" in out, out
    assert "Echo('ping') -> 'ping'" in out, out
    assert "OK: every action answered" in out, out

    # The books created over gRPC are on the Django page served by the same process.
    page = httpx.get(f"{example_server.http_url}/", timeout=10)
    assert page.status_code == 200
    assert "<h1>Library</h1>" in page.text
    assert "Dune by Frank Herbert (1965)" in page.text
    assert "Solaris by Stanislaw Lem (1961)" in page.text


def test_admin_login_and_static_files(example_server: ServerProcess) -> None:
    with httpx.Client(base_url=example_server.http_url, timeout=10) as client:
        login = client.get("/admin/login/")
        assert login.status_code == 200
        assert "csrfmiddlewaretoken" in login.text
        assert 'name="username"' in login.text
        stylesheets = re.findall(r'href="([^"]+\.css)"', login.text)
        assert "/static/admin/css/base.css" in stylesheets, stylesheets
        css = client.get("/static/admin/css/base.css")
        assert css.status_code == 200, f"DEBUG=True should serve static files: {css.status_code}"
        assert "text/css" in css.headers.get("content-type", "")
        assert "body" in css.text


def test_client_reports_unreachable_server(example_dir: Path, example_env: dict[str, str]) -> None:
    result = run_client(example_dir, example_env, "--target", f"127.0.0.1:{free_port()}", "--wait", "0.5")  # nobody there
    assert result.returncode != 0
    assert "no gRPC server reachable" in result.stderr, result.stderr

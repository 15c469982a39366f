"""The example project's page (example/library/templates/library/web.html) in a real headless
Chromium: plain `fetch` calls a Connect JSON unary method and renders a server stream as it
arrives. One example server, one browser run."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hybrid_server.testing.process import ServerProcess

SERVICE = "/example_project.library.BookController"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium: run `make clients` as root (make test does), or apt-get install chromium")


@pytest.fixture(scope="module")
def example_server(example_dir: Path, example_env: dict[str, str]) -> Iterator[ServerProcess]:
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0",
                              cwd=example_dir, env=example_env) as server:
        server.wait_ready()
        yield server


def test_the_example_page_calls_the_service_from_the_browser(example_server: ServerProcess, tmp_path: Path) -> None:
    browser = chromium()
    titles = ["Browser Book One", "Browser Book Two"]
    with httpx.Client(base_url=example_server.http_url, timeout=10) as client:
        for title in titles:  # Connect JSON, as curl would send it
            created = client.post(f"{SERVICE}/Create", json={"title": title, "author": "Chromium", "year": 2026})
            assert created.status_code == 200, created.text
    result = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
         f"{example_server.http_url}/web/"],
        capture_output=True, text=True, timeout=90,
    )
    dom = result.stdout
    assert '<output id="echo-result" class="ok">hello from the browser</output>' in dom, (dom, result.stderr[-2000:])
    assert 'class="ok">done: ' in dom, dom
    for title in titles:
        assert f'<li class="book">{title} by Chromium (2026)</li>' in dom, dom

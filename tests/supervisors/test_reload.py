"""`--dev`: one supervisor reloads gRPC and HTTP on the same ports, survives broken code and
failing checks, and stops with one Ctrl-C. Each test edits its own copy of the test project and
synchronises on the supervisor's and the children's lines (a reload, a banner), not on time."""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import grpc
import httpx
import pytest

from hybrid_server.testing import ServerProcess

BANNER = "Quit with CONTROL-C"
ECHO_LINE = "msg(message=request.message, count=request.count, thread=self.marker)\n\n    @unary()\n    def SyncEcho"


@pytest.fixture
def project(tmp_path: Path, testproject_dir: Path, testproject_env: dict[str, str]) -> Path:
    """A copy of the test project (protos included) that the test may edit."""
    copy = tmp_path / "project"
    shutil.copytree(testproject_dir, copy, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def _edit_and_reload(server: ServerProcess, path: Path, old: str, new: str) -> None:
    """Edit, then wait until the supervisor saw the change and a child started after it serves."""
    mark = server.mark()
    _edit(path, old, new)
    server.wait_for(rf"{path.name}.* changed, reloading", since=mark)
    server.wait_for(BANNER, since=mark)


def _group_gone(pid: int, timeout: float = 10.0) -> bool:
    """True once no process of the session `pid` is left (False after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _echo(stub, pb2, text: str) -> str:
    # wait_for_ready: the channel may be reconnecting to the new child after a reload.
    return stub.Echo(pb2.ProbeMessage(message=text), timeout=20, wait_for_ready=True).message


def test_reload_on_service_and_view_change(project, testproject_env, pb):
    """Also: a long --drain-delay slows neither a reload nor the final Ctrl-C (children of
    --dev get none); were it applied, the waits below would pass their deadlines. (The
    thread-pool backend restarts in the next test.)"""
    pb2, pb_grpc = pb
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--dev", "--drain-delay", "60",
                              cwd=project, env=testproject_env) as server:
        server.wait_ready()
        assert "Watching for file changes" in server.output
        grpc_port, http_port = server.grpc_port, server.http_port
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            assert _echo(stub, pb2, "a") == "a"

            _edit_and_reload(server, project / "testapp/services/probe_service.py", ECHO_LINE,
                             ECHO_LINE.replace("request.message,", "request.message + '!',"))
            assert _echo(stub, pb2, "a") == "a!"

            _edit_and_reload(server, project / "testproject/urls.py", "hello from django", "hello again")
            assert httpx.get(f"http://127.0.0.1:{http_port}/hello/", timeout=10).text == "hello again"
            assert _echo(stub, pb2, "b") == "b!"
        # Same ports across reloads: every child's banner names the first one's.
        output = server.output
        assert len(re.findall(BANNER, output)) >= 3, output
        assert set(re.findall(r"gRPC server listening on (\S+)", output)) == {f"127.0.0.1:{grpc_port}"}, output
        assert set(re.findall(r"HTTP server listening on (\S+)", output)) == {f"http://127.0.0.1:{http_port}"}, output
        server.signal(signal.SIGINT, group=True)  # one Ctrl-C, as a terminal sends it
        assert server.wait(20) == 0
        assert _group_gone(server.pid)


def test_broken_code_and_failing_checks_are_survived(project, tmp_path, pb):
    """On the thread-pool backend: a fresh database's unapplied migrations are pointed out; a
    syntax error and then a system-check error each leave the supervisor waiting for a fix
    (HTTP answers 503 meanwhile), and each fix is served."""
    pb2, pb_grpc = pb
    env = {"TESTPROJECT_DB": str(tmp_path / "fresh.sqlite3")}
    with ServerProcess.manage("grpcrunserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--dev",
                              cwd=project, env=env) as server:
        server.wait_ready()
        assert "unapplied migration" in server.output
        http = f"http://127.0.0.1:{server.http_port}"

        service = project / "testapp/services/probe_service.py"
        good = service.read_text()
        mark = server.mark()
        service.write_text(good + "\ndef broken(:\n")
        server.wait_for("SyntaxError", since=mark)
        server.wait_for("waiting for a change to restart", since=mark)
        assert server.returncode is None  # the supervisor keeps watching
        broken = httpx.get(f"{http}/hello/", timeout=10)
        assert broken.status_code == 503 and "console" in broken.text

        mark = server.mark()
        service.write_text(good.replace(ECHO_LINE, ECHO_LINE.replace("message=request.message,", "message='fixed',"), 1))
        server.wait_for(BANNER, since=mark)
        with grpc.insecure_channel(server.grpc_target) as channel:
            assert _echo(pb_grpc.ProbeServiceControllerStub(channel), pb2, "x") == "fixed"
        assert httpx.get(f"{http}/hello/", timeout=10).text == "hello from django"

        models = project / "testapp/models.py"
        field = "name = models.CharField(max_length=100)"
        mark = server.mark()
        _edit(models, field, field + "\n    price = models.DecimalField()")
        server.wait_for("waiting for a change to restart", since=mark)
        assert "fields.E130" in "\n".join(server.lines[mark:])  # DecimalField without decimal_places
        _edit_and_reload(server, models, "\n    price = models.DecimalField()", "")

        server.signal(signal.SIGTERM)  # SIGTERM to the supervisor alone
        assert server.wait(20) == 0
        assert _group_gone(server.pid)

"""`--dev`: one supervisor reloads gRPC and HTTP, survives broken code, stops with one Ctrl-C."""
from __future__ import annotations

import os
import shutil
import signal
import time

import grpc
import httpx
import pytest

from tests.procs import TESTPROJECT, ServerProcess


@pytest.fixture
def project(tmp_path, testproject_env):
    """A copy of the test project (protos included) that the test may edit."""
    copy = tmp_path / "project"
    shutil.copytree(TESTPROJECT, copy, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))
    return copy


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _eventually(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the server may be between two children
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s (last error: {last!r})")


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("command", ["grpcrunaioserver", "grpcrunserver"])
def test_reload_on_service_and_view_change(project, testproject_env, pb, command):
    pb2, pb_grpc = pb
    with ServerProcess.manage(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--dev", cwd=project, env=testproject_env) as server:
        server.wait_ready()
        assert "Watching for file changes" in server.output
        grpc_port, http_port = server.grpc_port, server.http_port
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            assert stub.Echo(pb2.ProbeMessage(message="a"), timeout=5).message == "a"
            _edit(project / "testapp/services/probe_service.py", "msg(message=request.message, count=request.count, thread=self.marker)\n\n    @unary()\n    def SyncEcho",
                  "msg(message=request.message + '!', count=request.count, thread=self.marker)\n\n    @unary()\n    def SyncEcho")
            _eventually(lambda: stub.Echo(pb2.ProbeMessage(message="a"), timeout=2).message == "a!")
            _edit(project / "testproject/urls.py", "hello from django", "hello again")
            _eventually(lambda: httpx.get(f"http://127.0.0.1:{http_port}/hello/", timeout=2).text == "hello again")
            # Same ports across reloads.
            _eventually(lambda: server.output.count(f"gRPC server listening on 127.0.0.1:{grpc_port}") >= 3)
            assert stub.Echo(pb2.ProbeMessage(message="b"), timeout=5).message == "b!"
        server.signal(signal.SIGINT, group=True)  # one Ctrl-C, as a terminal sends it
        assert server.wait(20) == 0
        assert _eventually(lambda: _group_gone(server.proc.pid), timeout=5)


def test_broken_code_is_survived(project, testproject_env, pb):
    pb2, pb_grpc = pb
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--dev", cwd=project, env=testproject_env) as server:
        server.wait_ready()
        http = f"http://127.0.0.1:{server.http_port}"
        service = project / "testapp/services/probe_service.py"
        good = service.read_text()
        service.write_text(good + "\ndef broken(:\n")
        server.wait_for("SyntaxError")
        server.wait_for("waiting for a change to restart")
        assert server.proc.poll() is None  # the supervisor keeps watching
        broken = httpx.get(f"{http}/hello/", timeout=5)
        assert broken.status_code == 503 and "console" in broken.text
        service.write_text(good.replace("return msg(message=request.message, count=request.count, thread=self.marker)", "return msg(message='fixed', thread=self.marker)", 1))
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            _eventually(lambda: stub.Echo(pb2.ProbeMessage(message="x"), timeout=2).message == "fixed")
        assert httpx.get(f"{http}/hello/", timeout=5).text == "hello from django"
        server.signal(signal.SIGTERM)  # SIGTERM to the supervisor alone
        assert server.wait(20) == 0
        assert _eventually(lambda: _group_gone(server.proc.pid), timeout=5)


def test_check_errors_wait_for_a_fix(project, testproject_env):
    models = project / "testapp/models.py"
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--dev", cwd=project, env=testproject_env) as server:
        server.wait_ready()
        _edit(models, "name = models.CharField(max_length=100)", "name = models.CharField(max_length=100)\n    price = models.DecimalField()")
        server.wait_for("waiting for a change to restart")
        assert "fields.E130" in server.output  # DecimalField without decimal_places
        _edit(models, "\n    price = models.DecimalField()", "")
        _eventually(lambda: server.output.count("Quit with CONTROL-C") >= 2)
        server.signal(signal.SIGTERM)
        assert server.wait(20) == 0


def test_unapplied_migrations_are_reported(project, tmp_path, pb):
    env = {"TESTPROJECT_DB": str(tmp_path / "fresh.sqlite3")}
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--dev", cwd=project, env=env) as server:
        server.wait_ready()
        assert "unapplied migration" in server.output
        server.signal(signal.SIGTERM)
        assert server.wait(20) == 0


def test_drain_delay_does_not_slow_reloads(project, testproject_env, pb):
    pb2, pb_grpc = pb
    with ServerProcess.manage("grpcrunaioserver", "127.0.0.1:0", "--dev", "--drain-delay", "10", cwd=project, env=testproject_env) as server:
        server.wait_ready()
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            started = time.monotonic()
            _edit(project / "testapp/services/probe_service.py", "msg(message=request.message, count=request.count, thread=self.marker)\n\n    @unary()\n    def SyncEcho",
                  "msg(message='quick', count=request.count, thread=self.marker)\n\n    @unary()\n    def SyncEcho")
            _eventually(lambda: stub.Echo(pb2.ProbeMessage(message="a"), timeout=2).message == "quick")
            assert time.monotonic() - started < 5
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0

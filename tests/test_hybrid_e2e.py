"""gRPC and HTTP from one process, with one lifecycle (issue: hybrid engine)."""
from __future__ import annotations

import signal
import socket
import sys
import textwrap
import threading
import time

import grpc
import httpx
import pytest

from tests.procs import TESTPROJECT, ServerProcess, port_is_open

COMMANDS = ["grpcrunaioserver", "grpcrunserver"]


@pytest.fixture(params=COMMANDS)
def command(request):
    return request.param


def test_both_protocols_answer(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0")
    assert server.http_port and server.http_port != server.grpc_port
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    assert stub.Echo(pb2.ProbeMessage(message="g"), timeout=10).message == "g"
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        assert http.get("/hello/").text == "hello from django"
        login = http.get("/admin/login/")
        assert login.status_code == 200 and "Django administration" in login.text
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "serving")
        assert http.get("/no-such-page/").status_code == 404


def test_sigterm_drains_both_sides(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--drain-delay", "1", "--grace", "5")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    rpc = stub.AsyncSleep.future(pb2.ProbeMessage(seconds=1.0), timeout=15)
    http_result: dict[str, object] = {}

    def slow_request() -> None:
        with httpx.Client(timeout=15) as client:
            response = client.get(f"{server.http_url}/slow/?seconds=1")
            http_result["status"], http_result["text"] = response.status_code, response.text

    http_thread = threading.Thread(target=slow_request)
    http_thread.start()
    time.sleep(0.3)
    server.signal(signal.SIGTERM)
    server.wait_for("Stopping")
    with httpx.Client(timeout=5) as probe:
        readiness = probe.get(f"{server.http_url}/readyz")
    assert readiness.status_code == 503
    assert rpc.result().message == "slept"
    http_thread.join(15)
    assert http_result == {"status": 200, "text": "slow done"}
    assert server.wait(15) == 0
    assert not port_is_open(server.grpc_port)
    assert not port_is_open(server.http_port)


def test_second_sigint_stops_at_once(start_server, command):
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--drain-delay", "30")
    server.signal(signal.SIGINT)
    server.wait_for("Stopping")
    started = time.monotonic()
    server.signal(signal.SIGINT)
    assert server.wait(10) == 130
    assert time.monotonic() - started < 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_busy_http_port_starts_nothing(start_server, command):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        grpc_port = _free_port()
        server = start_server(command, f"127.0.0.1:{grpc_port}", "--with-http", f"127.0.0.1:{busy}", ready=False)
        assert server.wait(30) == 1
        assert f"cannot bind HTTP to 127.0.0.1:{busy}" in server.output
        assert "listening" not in server.output
        assert not port_is_open(grpc_port)


def test_busy_grpc_port_starts_nothing(start_server, command):
    first = start_server(command, "127.0.0.1:0")
    http_port = _free_port()
    second = start_server(command, f"127.0.0.1:{first.grpc_port}", "--with-http", f"127.0.0.1:{http_port}", ready=False)
    assert second.wait(30) == 1
    assert f"cannot bind gRPC to 127.0.0.1:{first.grpc_port}" in second.output
    assert not port_is_open(http_port)


SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {project!r})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    import hybrid_server

    sys.exit(hybrid_server.run(grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", grace=5, drain_delay=0.5, max_workers=4))
    """
)


def test_script_calling_run_serves_and_stops(tmp_path, testproject_env, channel_to, pb):
    pb2, pb_grpc = pb
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(project=str(TESTPROJECT)))
    with ServerProcess([sys.executable, str(script)], cwd=tmp_path, env=testproject_env) as server:
        server.wait_ready()
        stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
        rpc = stub.AsyncSleep.future(pb2.ProbeMessage(seconds=0.8), timeout=15)
        assert httpx.get(f"{server.http_url}/hello/", timeout=10).text == "hello from django"
        time.sleep(0.2)
        server.signal(signal.SIGTERM)
        assert rpc.result().message == "slept"
        assert server.wait(15) == 0
        with pytest.raises(grpc.RpcError):
            stub.Echo(pb2.ProbeMessage(message="late"), timeout=2)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_loop_choice(start_server, loop, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--loop", loop)
    assert f"grpc.aio on {loop}" in server.output
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    assert stub.Echo(pb2.ProbeMessage(message="l"), timeout=10).message == "l"
    assert httpx.get(f"{server.http_url}/hello/", timeout=10).status_code == 200


def test_debug_shows_exception_message(start_server, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server("grpcrunaioserver", "127.0.0.1:0", env={"TESTPROJECT_DEBUG": "1"})
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    with pytest.raises(grpc.RpcError) as info:
        stub.Fail(pb2.ProbeMessage(message="other"), timeout=10)
    assert info.value.details() == "ValueError: secret internals"


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_streams_open_past_grace_are_cancelled(start_server, command, channel_to, pb, action):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--grace", "1")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    stream = getattr(stub, action)(pb2.ProbeMessage(message="s", count=1000, seconds=0.05), timeout=30)
    assert next(stream).count == 0
    server.signal(signal.SIGTERM)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        for _ in stream:
            pass
    assert info.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED)
    assert time.monotonic() - started < 6
    assert server.wait(15) == 0


def test_a_def_action_past_grace_does_not_hold_the_process(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--grace", "1")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    call = stub.SyncSleep.future(pb2.ProbeMessage(seconds=20), timeout=30)  # kept: a dropped future cancels
    time.sleep(0.3)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait(15) == 0
    assert time.monotonic() - started < 6
    server.wait_for("still running code past the grace period")
    with pytest.raises(grpc.RpcError):
        call.result()


def test_second_sigint_with_a_def_action_running(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--grace", "30")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    call = stub.SyncSleep.future(pb2.ProbeMessage(seconds=20), timeout=30)  # kept: a dropped future cancels
    time.sleep(0.3)
    server.signal(signal.SIGINT)
    server.wait_for("Stopping")
    started = time.monotonic()
    server.signal(signal.SIGINT)
    assert server.wait(15) == 130, server.output
    assert time.monotonic() - started < 5
    with pytest.raises(grpc.RpcError):
        call.result()


def test_failing_asgi_application_is_a_clean_start_up_error(start_server, command):
    grpc_port = _free_port()
    server = start_server(command, f"127.0.0.1:{grpc_port}", "--with-http", "127.0.0.1:0", ready=False,
                          env={"TESTPROJECT_ASGI": "testproject.broken_asgi.application"})
    assert server.wait(30) == 1
    assert "ASGI_APPLICATION" in server.output and "this ASGI module fails on import" in server.output
    assert "ExceptionGroup" not in server.output
    assert not port_is_open(grpc_port)

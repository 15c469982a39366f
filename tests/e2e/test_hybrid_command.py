"""The commands serve gRPC and HTTP from one process with one lifecycle: both protocols, the
drain on SIGTERM, a second SIGINT, busy ports, start-up failures, a script calling
`hybrid_server.run()`, the loop choice, and work that outlives the grace period.

Read-only tests share one server per configuration (module scope); a test that stops its server
starts its own. In-flight work is the test project's hold actions and /hold/ view: they report
"started" from the server and end when the test creates their marker file.
"""
from __future__ import annotations

import signal
import socket
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from hybrid_server.testing.process import ServerProcess, free_port, port_is_open

COMMANDS = ["grpcrunaioserver", "grpcrunserver"]
HTTP = ("--with-http", "127.0.0.1:0")
# Read-only servers, one per command (the script test chooses asyncio through run()).
SHARED = {
    "grpcrunaioserver": ("grpcrunaioserver", "127.0.0.1:0", *HTTP, "--loop", "uvloop"),
    "grpcrunserver": ("grpcrunserver", "127.0.0.1:0", *HTTP),
}
GONE = (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED)


@pytest.fixture(params=COMMANDS)
def command(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def shared(start_shared_server: Callable[..., ServerProcess]) -> Callable[[str], ServerProcess]:
    """`shared(command)`: the module's read-only server of that command, started on first use."""
    servers: dict[str, ServerProcess] = {}

    def get(name: str) -> ServerProcess:
        if name not in servers:
            servers[name] = start_shared_server(*SHARED[name])
        assert servers[name].returncode is None, servers[name].output
        return servers[name]

    return get


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


def _stub(channel: grpc.Channel, pb: Any) -> Any:
    return pb[1].ProbeServiceControllerStub(channel)


def _hold(stub: Any, pb: Any, marker: Path, action: str = "HoldAsync", seconds: float = 120) -> Any:
    """A hold call that the server reported started; it ends once `marker` exists."""
    call = getattr(stub, action)(pb[0].ProbeMessage(message=str(marker), seconds=seconds), timeout=seconds)
    assert next(call).message == "started"
    return call


# --------------------------------------------------------------------------- read-only


def test_both_protocols_answer(shared, command, channel_to, pb):
    server = shared(command)
    assert server.http_port and server.http_port != server.grpc_port
    assert _stub(channel_to(server), pb).Echo(pb[0].ProbeMessage(message="g"), timeout=10).message == "g"
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        assert http.get("/hello/").text == "hello from django"
        login = http.get("/admin/login/")
        assert login.status_code == 200 and "Django administration" in login.text
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "serving")
        assert http.get("/no-such-page/").status_code == 404


def test_loop_choice(shared, channel_to, pb):
    """--loop uvloop here; loop="asyncio" in the script test below."""
    server = shared("grpcrunaioserver")
    assert "grpc.aio on uvloop" in server.output
    assert _stub(channel_to(server), pb).Echo(pb[0].ProbeMessage(message="l"), timeout=10).message == "l"


# --------------------------------------------------------------------------- start-up failures


def test_busy_http_port_starts_nothing(start_server):
    """The HTTP socket is bound by the engine before either backend exists: one command."""
    command = "grpcrunserver"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        grpc_port = free_port()
        server = start_server(command, f"127.0.0.1:{grpc_port}", "--with-http", f"127.0.0.1:{busy}", ready=False)
        assert server.wait(30) == 1
    assert f"cannot bind HTTP to 127.0.0.1:{busy}" in server.output
    assert "listening" not in server.output and "Traceback" not in server.output
    assert not port_is_open(grpc_port)


def test_busy_grpc_port_starts_nothing(shared, start_server, command, channel_to, pb):
    first = shared(command)
    http_port = free_port()
    second = start_server(command, f"127.0.0.1:{first.grpc_port}", "--with-http", f"127.0.0.1:{http_port}", ready=False)
    assert second.wait(30) == 1
    assert f"cannot bind gRPC to 127.0.0.1:{first.grpc_port}" in second.output
    assert "Traceback" not in second.output
    assert not port_is_open(http_port)
    # No silent SO_REUSEPORT sharing: the first server still has the port, and answers.
    assert _stub(channel_to(first), pb).Echo(pb[0].ProbeMessage(message="still"), timeout=10).message == "still"


def test_failing_asgi_application_is_a_clean_start_up_error(start_server):
    """The ASGI application is loaded by the engine's HTTP side, whatever the backend: one command."""
    command = "grpcrunaioserver"
    grpc_port = free_port()
    server = start_server(command, f"127.0.0.1:{grpc_port}", *HTTP, ready=False,
                          env={"TESTPROJECT_ASGI": "testproject.broken_asgi.application"})
    assert server.wait(30) == 1
    assert "ASGI_APPLICATION" in server.output and "this ASGI module fails on import" in server.output
    assert "ExceptionGroup" not in server.output and "Traceback" not in server.output
    assert not port_is_open(grpc_port)


# --------------------------------------------------------------------------- stopping


def test_sigterm_drains_both_sides(start_server, command, channel_to, pb, tmp_path):
    """Readiness turns 503 for the drain delay, the listeners close, and the gRPC call and the
    HTTP request in flight both complete afterwards."""
    server = start_server(command, "127.0.0.1:0", *HTTP, "--drain-delay", "2", "--grace", "30")
    marker = tmp_path / "release"
    hold = _hold(_stub(channel_to(server), pb), pb, marker)
    with httpx.Client(base_url=server.http_url, timeout=30) as http, \
            http.stream("GET", "/hold/", params={"marker": str(marker), "seconds": "120"}) as response:
        lines = response.iter_lines()
        assert next(lines) == "started"
        server.signal(signal.SIGTERM)
        server.wait_for(r"Stopping \(received SIGTERM\)")
        with httpx.Client(timeout=5) as probe:
            readiness = probe.get(f"{server.http_url}/readyz")
        assert readiness.status_code == 503
        _eventually(lambda: not port_is_open(server.grpc_port) and not port_is_open(server.http_port),
                    "both listeners closed after the drain delay")
        marker.write_text("")
        assert next(lines) == "released"
        assert response.status_code == 200
    assert next(hold).message == "released"
    assert list(hold) == [] and hold.code() == grpc.StatusCode.OK
    assert server.wait(30) == 0


def test_second_sigint_stops_at_once_with_a_def_action_running(start_server, command, channel_to, pb, tmp_path):
    server = start_server(command, "127.0.0.1:0", *HTTP, "--drain-delay", "60", "--grace", "60")
    hold = _hold(_stub(channel_to(server), pb), pb, tmp_path / "never", action="HoldSync")
    server.signal(signal.SIGINT)
    server.wait_for("Stopping")
    server.signal(signal.SIGINT)
    assert server.wait(20) == 130, server.output  # the drain delay alone is 60 s, the def action 120 s
    with pytest.raises(grpc.RpcError) as info:
        next(hold)
    assert info.value.code() in GONE


def test_work_past_grace_is_cancelled_and_does_not_hold_the_process(start_server, command, channel_to, pb, tmp_path):
    """Streams open past the grace period are cancelled; a `def` action that cannot be
    cancelled is reported and left behind: the process exits anyway."""
    server = start_server(command, "127.0.0.1:0", "--grace", "1")
    stub = _stub(channel_to(server), pb)
    streams = [getattr(stub, action)(pb[0].ProbeMessage(message="s", count=1000, seconds=0.05), timeout=120)
               for action in ("StreamAsync", "StreamSync")]
    assert [next(stream).count for stream in streams] == [0, 0]
    hold = _hold(stub, pb, tmp_path / "never", action="HoldSync")
    server.signal(signal.SIGTERM)
    assert server.wait(20) == 0, server.output  # the streams alone would take 50 s, the def action 120 s
    assert "still running code past the grace period" in server.output
    for stream in streams:
        with pytest.raises(grpc.RpcError) as info:
            for _ in stream:
                pass
        assert info.value.code() in GONE
    with pytest.raises(grpc.RpcError) as info:
        next(hold)
    assert info.value.code() in GONE


SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {project!r})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    import hybrid_server

    sys.exit(hybrid_server.run(grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", grace=30, drain_delay=0.5,
                               max_workers=4, loop="asyncio"))
    """
)


def test_script_calling_run_serves_and_stops(tmp_path, testproject_dir, testproject_env, channel_to, pb):
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(project=str(testproject_dir)))
    marker = tmp_path / "release"
    with ServerProcess([sys.executable, str(script)], cwd=tmp_path, env=testproject_env) as server:
        server.wait_ready()
        assert "grpc.aio on asyncio, 4 sync workers" in server.output
        stub = _stub(channel_to(server), pb)
        hold = _hold(stub, pb, marker)
        assert httpx.get(f"{server.http_url}/hello/", timeout=10).text == "hello from django"
        server.signal(signal.SIGTERM)
        server.wait_for(r"Stopping \(received SIGTERM\)")
        marker.write_text("")
        assert next(hold).message == "released"
        assert server.wait(30) == 0
        with pytest.raises(grpc.RpcError):
            stub.Echo(pb[0].ProbeMessage(message="late"), timeout=2)

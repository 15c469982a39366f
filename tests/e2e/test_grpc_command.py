"""The gRPC commands as processes: the banner names the port bound for `:0` and the services;
a first SIGINT drains, letting the call in flight finish.

(SIGTERM with calls in flight: test_hybrid_command.py; SIGHUP: test_signals_and_logs.py; a
second SIGINT: test_hybrid_command.py.)
"""
from __future__ import annotations

import re
import signal

import grpc
import pytest

from hybrid_server.testing.process import port_is_open

COMMANDS = {"grpcrunaioserver": "grpc.aio", "grpcrunserver": "grpc thread pool"}
SERVICES = ("testproject.testapp.ProbeServiceController, testproject.testapp.ItemController, "
            "testproject.testapp.BenchServiceController")


@pytest.fixture(params=list(COMMANDS))
def command(request):
    return request.param


def test_banner_names_the_bound_port_and_the_services(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--max-workers", "3")
    lines = server.output.splitlines()
    banner = lines[lines.index(next(line for line in lines if line.startswith("hybrid-server "))):]
    assert re.fullmatch(rf"hybrid-server \S+ \(Django \S+, {COMMANDS[command]} on (asyncio|uvloop), 3 sync workers\)", banner[0])
    assert banner[1:4] == [
        f"gRPC server listening on 127.0.0.1:{server.grpc_port}",
        f"  services: {SERVICES}",
        "Quit with CONTROL-C.",
    ]
    assert server.grpc_port > 0
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))  # the port the banner names serves
    assert stub.Echo(pb2.ProbeMessage(message="here"), timeout=20).message == "here"


def test_first_sigint_lets_the_call_in_flight_finish(start_server, command, channel_to, pb, tmp_path):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--grace", "30")
    release = tmp_path / "release"
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    call = stub.HoldAsync(pb2.ProbeMessage(message=str(release), seconds=60), timeout=60)
    assert next(call).message == "started"  # in flight, server-side
    server.signal(signal.SIGINT)
    server.wait_for(r"Stopping \(received SIGINT\)")
    release.write_text("")  # only now can the call end: it was in flight all through the drain
    assert [reply.message for reply in call] == ["released"]
    assert call.code() == grpc.StatusCode.OK
    assert server.wait(30) == 0
    assert not port_is_open(server.grpc_port)


@pytest.mark.parametrize("action", ["SizedStream", "SyncSizedStream"])
def test_a_client_leaving_streams_blocked_on_flow_control_does_not_kill_the_server(
    start_server, command, channel_to, pb, action
):
    """Two 1 MiB-message server streams the client stops reading, then the client closes its
    channel: grpc.aio's context must not be touched once such a call has died (its `peer()`
    crashed the process, from the access log's line for the cancelled stream). A process is the
    subject: a crash would take pytest with it in-process."""
    from testapp.grpc import testapp_pb2, testapp_pb2_grpc

    server = start_server(command, "127.0.0.1:0", "--access-log")
    leaving = grpc.insecure_channel(server.grpc_target)
    bench = testapp_pb2_grpc.BenchServiceControllerStub(leaving)
    calls = [getattr(bench, action)(testapp_pb2.BenchMessage(count=1 << 20), timeout=60) for _ in range(2)]
    assert [next(call).count for call in calls] == [0, 0]  # then not read: the server blocks on flow control
    leaving.close()
    server.wait_for(rf"{action} CANCELLED", count=2)  # both streams ended server-side and were logged
    pb2, pb_grpc = pb
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    assert stub.Echo(pb2.ProbeMessage(message="still here"), timeout=20).message == "still here"
    assert server.returncode is None

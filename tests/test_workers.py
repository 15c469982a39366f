"""`--workers N`: several processes on one pair of ports, supervised."""
import os
import re
import signal
import time

import grpc
import httpx
import pytest

from tests.procs import port_is_open


def _pids(server, pb, attempts=40):
    pb2, pb_grpc = pb
    seen = set()
    for _ in range(attempts):
        # A fresh connection each time, so the kernel may pick another worker.
        with grpc.insecure_channel(server.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            seen.add(int(stub.WhoAmI(pb2.ProbeMessage(), timeout=10).message))
        if len(seen) >= 2:
            break
    return seen


@pytest.mark.parametrize("command", ["grpcrunaioserver", "grpcrunserver"])
def test_two_workers_share_the_ports_and_drain(start_server, pb, command):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--workers", "2", "--grace", "5")
    assert "Supervisor started 2 workers" in server.output
    server.wait_for(r"(?s)Quit with CONTROL-C.*Quit with CONTROL-C")  # both workers serve
    pids = _pids(server, pb)
    assert len(pids) == 2 and server.proc.pid not in pids
    assert httpx.get(f"{server.http_url}/hello/", timeout=10).text == "hello from django"

    # Kill one worker: it is restarted, and the service keeps answering meanwhile.
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_for(f"Worker {victim} exited with code -9")
    deadline = time.monotonic() + 20
    fresh = set()
    while time.monotonic() < deadline and not (fresh - pids):
        fresh |= _pids(server, pb, attempts=10)
    assert fresh - pids, "no restarted worker answered"

    # SIGTERM to the supervisor: every worker drains; an in-flight call completes.
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb_grpc.ProbeServiceControllerStub(channel)
        future = stub.AsyncSleep.future(pb2.ProbeMessage(seconds=1.0), timeout=15)
        time.sleep(0.3)
        server.signal(signal.SIGTERM)
        assert future.result().message == "slept"
    assert server.wait(30) == 0
    assert server.output.count("Stopping (received SIGTERM)") >= 2
    assert not port_is_open(server.grpc_port) and not port_is_open(server.http_port)


def test_workers_that_cannot_start_stop_the_supervisor(start_server):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--workers", "2", ready=False,
                          env={"TESTPROJECT_HOOK": "testproject.handlers.broken_handlers"})
    assert server.wait(30) == 1
    assert "during start-up; stopping" in server.output


def test_workers_die_with_a_killed_supervisor(start_server, pb):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--workers", "2")
    server.wait_for(r"(?s)Quit with CONTROL-C.*Quit with CONTROL-C")
    pids = [int(p) for p in re.search(r"\(pids ([\d, ]+)\)", server.output).group(1).split(", ")]
    os.kill(server.proc.pid, signal.SIGKILL)  # no chance to pass anything on
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
    assert not port_is_open(server.grpc_port)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False

"""`--workers N`: several processes on one pair of ports, supervised: a killed worker is
replaced, a signal drains them all, workers die with a killed supervisor, and workers that
cannot start stop the supervisor."""
from __future__ import annotations

import os
import signal
import time

import grpc
import httpx
import pytest

from hybrid_server.testing.process import port_is_open


def _pids(server, pb, want: set[int] | None = None, attempts: int = 60) -> set[int]:
    """Worker pids seen over fresh connections (the kernel picks a worker per connection):
    until two are seen, or (`want`) until one of them is outside `want`."""
    pb2, pb_grpc = pb
    seen: set[int] = set()
    for _ in range(attempts):
        with grpc.insecure_channel(server.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            seen.add(int(stub.WhoAmI(pb2.ProbeMessage(), timeout=10, wait_for_ready=True).message))
        if (want is None and len(seen) >= 2) or (want is not None and seen - want):
            break
    return seen


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("command", "ending"), [("grpcrunaioserver", "drain"), ("grpcrunserver", "supervisor-killed")])
def test_workers_share_the_ports_and_are_replaced(start_server, pb, command, ending, tmp_path):
    """Then (the supervisor's part, whatever the backend, once per command) either SIGTERM
    drains every worker while a call in flight completes, or the supervisor is SIGKILLed and
    its workers die with it."""
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--workers", "2", "--grace", "30",
                          )  # the supervisor's one banner: every worker serves
    assert "Supervisor started 2 workers" in server.output
    assert server.output.count("Quit with CONTROL-C.") == 1  # workers print none of their own
    pids = _pids(server, pb)
    assert len(pids) == 2 and server.pid not in pids
    assert httpx.get(f"{server.http_url}/hello/", timeout=10).text == "hello from django"

    # Kill one worker: it is replaced, and a new worker answers on the same port.
    victim = sorted(pids)[0]
    mark = server.mark()
    os.kill(victim, signal.SIGKILL)
    server.wait_for(rf"Worker {victim} exited with code -9 after [\d.]+s; restarting", since=mark)
    server.wait_for(r"Worker \d+ is serving\.", since=mark)
    fresh = _pids(server, pb, want=pids)
    assert fresh - pids, f"no new worker answered (seen {fresh}, before {pids})"
    workers = (pids - {victim}) | (fresh - pids)
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)

    if ending == "supervisor-killed":
        os.kill(server.pid, signal.SIGKILL)  # no chance to pass anything on
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers), f"workers {workers} outlived their supervisor:\n{server.output}"
        assert not port_is_open(server.grpc_port)
        return

    # SIGTERM to the supervisor: every worker drains, and a call in flight completes.
    marker = tmp_path / "release"
    with grpc.insecure_channel(server.grpc_target) as channel:
        hold = pb_grpc.ProbeServiceControllerStub(channel).HoldAsync(
            pb2.ProbeMessage(message=str(marker), seconds=60), timeout=60)
        assert next(hold).message == "started"
        server.signal(signal.SIGTERM)
        server.wait_for(r"Supervisor received SIGTERM: stopping 2 workers")
        marker.write_text("")
        assert next(hold).message == "released"
        assert list(hold) == [] and hold.code() == grpc.StatusCode.OK
    assert server.wait(30) == 0
    assert not port_is_open(server.grpc_port) and not port_is_open(server.http_port)


def test_workers_that_cannot_start_stop_the_supervisor(start_server):
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--workers", "2", ready=False,
                          env={"TESTPROJECT_HOOK": "testproject.handlers.broken_handlers"})
    assert server.wait(30) == 1
    assert "during start-up; stopping" in server.output


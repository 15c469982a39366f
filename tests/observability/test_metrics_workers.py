"""`--metrics --workers 2`: a scrape answered by any worker returns the whole server's figures
(prometheus-client's multiprocess mode), including the calls of a worker that died; gauges count
live workers only; each worker's process figures carry its pid; the directory is removed at exit."""
from __future__ import annotations

import os
import signal

import grpc

from tests.observability.conftest import client, scrape
from tests.waiting import wait_until


def _calls_on_both_workers(server, pb) -> tuple[int, set[int]]:
    """WhoAmI over fresh connections (the kernel picks a worker per connection) until two
    workers have answered; returns how many calls that took, and the workers' pids."""
    pb2, pb_grpc = pb
    seen: set[int] = set()
    calls = 0
    while len(seen) < 2:
        assert calls < 60, f"one worker answered every call: {seen}"
        with grpc.insecure_channel(server.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = pb_grpc.ProbeServiceControllerStub(channel)
            seen.add(int(stub.WhoAmI(pb2.ProbeMessage(), timeout=10, wait_for_ready=True).message))
        calls += 1
    return calls, seen


def _who_am_i(metrics) -> float:
    return metrics.rpc("grpc_server_handled_total", "WhoAmI", grpc_code="OK")


def _page(metrics) -> float:
    return metrics.value("http_requests_total", method="GET", status="200")


def test_every_scrape_returns_the_sum_of_the_workers(start_server, pb, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--with-http", "127.0.0.1:0", "--workers", "2", "--metrics",
                          env={"TMPDIR": str(temp)})
    [directory] = list(temp.glob("hybrid-server-metrics-*"))  # made by the supervisor, handed on
    calls, workers = _calls_on_both_workers(server, pb)
    url = f"{server.http_url}/metrics"
    for _ in range(4):  # new connections: any worker may answer; each answers for both
        metrics = scrape(url, headers={"connection": "close"})
        assert _who_am_i(metrics) == calls
        assert metrics.value("hybrid_server_state", state="serving") == 2
        assert {labels["pid"] for labels in metrics.labelled("process_resident_memory_bytes")} == {str(p) for p in workers}
    assert client().get(f"{server.http_url}/hello/").status_code == 200
    # Counted once the response is out: seen before the kill (that worker may be the victim).
    wait_until(lambda: _page(scrape(url, headers={"connection": "close"})) == 1, "the page view counted", interval=0.02)

    # A worker killed: its calls still count, its gauges go, its replacement's figures come.
    victim = min(workers)
    mark = server.mark()
    os.kill(victim, signal.SIGKILL)
    server.wait_for(rf"Worker {victim} exited with code -9", since=mark)
    server.wait_for(r"Worker \d+ is serving\.", since=mark)
    metrics = scrape(url, headers={"connection": "close"})
    assert _who_am_i(metrics) == calls
    assert _page(metrics) == 1
    assert metrics.value("hybrid_server_state", state="serving") == 2
    pids = {int(labels["pid"]) for labels in metrics.labelled("process_resident_memory_bytes")}
    assert len(pids) == 2 and victim not in pids

    client().close()
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
    assert not directory.exists()

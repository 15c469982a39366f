"""HTTP RPC calls and the lifecycle: a call in flight when the drain starts (SIGTERM's path)
finishes within the grace period; new connections are refused meanwhile."""
from __future__ import annotations

import json
import threading

import httpx
import pytest

from hybrid_server.testing import LiveServer
from tests.engine.support import Gate
from tests.http_rpc.conftest import PROBE, envelope, envelopes, server_options


@pytest.mark.parametrize("backend", ["aio", "threads"])
def test_calls_in_flight_finish_after_the_drain_starts(pb, tmp_path, backend):
    gate = Gate(tmp_path / "release")
    request = json.dumps({"message": str(gate.path), "seconds": 20}).encode()
    results: dict[str, bytes] = {}
    started = {name: threading.Event() for name in ("HoldAsync", "HoldSync")}

    with LiveServer(backend=backend, **server_options(grace=10.0)) as live:
        def call(action: str) -> None:
            with httpx.Client(base_url=live.http_url, timeout=30) as client, client.stream(
                    "POST", f"{PROBE}/{action}", content=envelope(request),
                    headers={"content-type": "application/connect+json"}) as reply:
                body = b""
                for chunk in reply.iter_raw():
                    body += chunk
                    if b"started" in body:
                        started[action].set()
                results[action] = body

        callers = [threading.Thread(target=call, args=(action,)) for action in started]
        for caller in callers:
            caller.start()
        for event in started.values():
            assert event.wait(20)
        url = live.http_url
        live.server.shutdown("received SIGTERM")  # what the engine's signal watcher does
        # New connections are refused while the calls in flight go on.
        with pytest.raises(httpx.TransportError):
            for _ in range(200):
                httpx.post(f"{url}{PROBE}/Echo", json={}, timeout=2)
                threading.Event().wait(0.01)
        gate.release()
        for caller in callers:
            caller.join(30)
        assert live.stop() == 0
    for action, body in results.items():
        frames = envelopes(body)
        assert [json.loads(payload)["message"] for _, payload in frames[:-1]] == ["started", "released"], action
        assert json.loads(frames[-1][1]) == {}, action  # ended OK

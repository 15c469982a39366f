"""Prometheus metrics of one server (`--metrics`): a scrape of /metrics after real calls on both
backends returns the series of the grpc-ecosystem interceptors with the expected values, the
HTTP requests, the server state and the process figures; in-flight, cancelled and timed-out
calls; the probe listener; and nothing of it when metrics are off."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hybrid_server.testing import LiveServer
from tests.engine.support import Gate, finish, hold
from tests.observability.conftest import HEALTH, PROBE, Scrape, client, scrape
from tests.waiting import wait_until

BACKENDS = ["aio", "threads"]
HOOK = "testproject.handlers.grpc_handlers"


def _until(condition, what: str, seconds: float = 10.0):
    """Poll the server's own figures (a scrape) until `condition(scrape)` holds."""
    return wait_until(condition, what, timeout=seconds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scrape_after_calls_returns_the_series_and_values(pb, backend):
    pb2, pb_grpc = pb
    with LiveServer(backend=backend, http_address="127.0.0.1:0", metrics=True, handlers_hook=HOOK) as server:
        channel = server.channel()
        stub = pb_grpc.ProbeServiceControllerStub(channel)
        for _ in range(3):
            stub.Echo(pb2.ProbeMessage(message="x"))
        for kind in ("not_found", "abort", "boom"):
            with pytest.raises(grpc.RpcError):
                stub.Fail(pb2.ProbeMessage(message=kind))
        assert len(list(stub.StreamAsync(pb2.ProbeMessage(message="s", count=3)))) == 3
        assert stub.CollectSync(iter([pb2.ProbeMessage(message="c")] * 4)).count == 4
        assert len(list(stub.BidiAsync(iter([pb2.ProbeMessage(message="b")] * 2)))) == 2
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        http, base = client(), server.http_url
        assert http.get(f"{base}/hello/").status_code == 200
        assert http.get(f"{base}/hello/").status_code == 200
        assert http.get(f"{base}/no-such-page/").status_code == 404
        assert http.get(f"{base}/readyz").status_code == 200  # probes are not counted
        response = http.get(f"{base}/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=")
        metrics = Scrape(response.text)

    # go-grpc-prometheus's series, every RPC of every service.
    assert metrics.rpc("grpc_server_started_total", "Echo") == 3
    assert metrics.rpc("grpc_server_handled_total", "Echo", grpc_code="OK") == 3
    assert metrics.rpc("grpc_server_handling_seconds_count", "Echo") == 3
    assert metrics.rpc("grpc_server_handling_seconds_bucket", "Echo", le="+Inf") == 3
    assert metrics.rpc("grpc_server_handling_seconds_sum", "Echo") > 0  # recorded; how long is a benchmark figure
    assert (metrics.rpc("grpc_server_msg_received_total", "Echo"), metrics.rpc("grpc_server_msg_sent_total", "Echo")) == (3, 3)
    assert metrics.rpc("grpc_server_started_total", "Fail") == 3
    for code in ("NotFound", "FailedPrecondition", "Unknown"):  # mapped error, abort, unexpected exception
        assert metrics.rpc("grpc_server_handled_total", "Fail", grpc_code=code) == 1, code
    assert metrics.rpc("grpc_server_msg_sent_total", "Fail") == 0
    stream = ("StreamAsync", "server_stream")
    assert (metrics.rpc("grpc_server_msg_received_total", *stream), metrics.rpc("grpc_server_msg_sent_total", *stream)) == (1, 3)
    assert metrics.rpc("grpc_server_handled_total", *stream, grpc_code="OK") == 1
    collect = ("CollectSync", "client_stream")
    assert metrics.rpc("grpc_server_msg_received_total", *collect) == 4
    assert metrics.rpc("grpc_server_msg_sent_total", *collect) == 1
    bidi = ("BidiAsync", "bidi_stream")
    assert (metrics.rpc("grpc_server_msg_received_total", *bidi), metrics.rpc("grpc_server_msg_sent_total", *bidi)) == (2, 2)
    assert metrics.rpc("grpc_server_handled_total", "Check", service=HEALTH, grpc_code="OK") == 1
    assert metrics.has("grpc_server_started_total", grpc_type="unary", grpc_service=PROBE, grpc_method="WhoAmI")  # 0, listed
    assert all(value == 0 for (name, _), value in metrics.samples.items() if name == "grpc_server_in_flight")
    # HTTP: Django's views by method and status; probes and the scrape itself are not counted.
    assert metrics.value("http_requests_total", method="GET", status="200") == 2
    assert metrics.value("http_requests_total", method="GET", status="404") == 1
    assert metrics.value("http_request_duration_seconds_count", method="GET") == 3
    # The server's state and the process.
    assert metrics.value("hybrid_server_state", state="serving") == 1
    assert metrics.value("hybrid_server_state", state="draining") == 0
    assert metrics.value("process_resident_memory_bytes") > 0
    assert "python_info" in metrics.families


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_flight_cancelled_and_timed_out_calls(pb, backend, tmp_path):
    pb2, pb_grpc = pb
    with LiveServer(backend=backend, http_address="127.0.0.1:0", metrics=True, handlers_hook=HOOK) as server:
        url = f"{server.http_url}/metrics"
        stub = pb_grpc.ProbeServiceControllerStub(server.channel())
        hold_type = ("HoldAsync", "server_stream")
        gate = Gate(tmp_path / "release")
        call, _started = hold(stub, "HoldAsync", gate, pb2)
        assert scrape(url).rpc("grpc_server_in_flight", *hold_type) == 1
        gate.release()
        assert finish(call) == ["released"]
        _until(lambda: scrape(url).rpc("grpc_server_handled_total", *hold_type, grpc_code="OK") == 1, "the hold handled")

        # A client that goes away mid-stream (both backends cancel the held action on their own:
        # releasing it here would race the cancellation, and a hold released first ends OK),
        # and one whose deadline passes.
        call, _started = hold(stub, "HoldAsync", Gate(tmp_path / "never-released"), pb2)
        call.cancel()
        _until(lambda: scrape(url).rpc("grpc_server_handled_total", *hold_type, grpc_code="Canceled") == 1, "Canceled")
        sleep = "AsyncSleep" if backend == "aio" else "SyncSleep"  # the thread-pool one returns after the deadline
        with pytest.raises(grpc.RpcError) as error:
            stub.__getattribute__(sleep)(pb2.ProbeMessage(seconds=0.3 if backend == "threads" else 10), timeout=0.1)
        assert error.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        _until(lambda: scrape(url).rpc("grpc_server_handled_total", sleep, grpc_code="DeadlineExceeded") == 1,
               "DeadlineExceeded")
        final = scrape(url)
        assert final.rpc("grpc_server_in_flight", *hold_type) == 0
        assert final.rpc("grpc_server_in_flight", sleep) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_health_watch_is_measured_while_open(pb, backend):
    """The thread-pool health servicer answers `Watch` through a callback (non-blocking)."""
    with LiveServer(backend=backend, http_address="127.0.0.1:0", metrics=True, handlers_hook=HOOK) as server:
        url = f"{server.http_url}/metrics"
        watch = health_pb2_grpc.HealthStub(server.channel()).Watch(health_pb2.HealthCheckRequest(), timeout=20)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        metrics = scrape(url)
        assert metrics.rpc("grpc_server_in_flight", "Watch", "server_stream", service=HEALTH) == 1
        assert metrics.rpc("grpc_server_msg_sent_total", "Watch", "server_stream", service=HEALTH) == 1
        watch.cancel()
        _until(lambda: scrape(url).rpc("grpc_server_handled_total", "Watch", "server_stream", service=HEALTH,
                                       grpc_code="Canceled") == 1, "the watch handled as Canceled")
        assert scrape(url).rpc("grpc_server_in_flight", "Watch", "server_stream", service=HEALTH) == 0


class _Say(grpc.GenericRpcHandler):
    """A hand-written generic handler: its handlers are looked up per call."""

    def service(self, details):
        if details.method == "/custom.Greeter/Say":
            return grpc.unary_unary_rpc_method_handler(lambda request, context: b"hi " + request)
        return None


def _custom_hook(server):
    server.add_generic_rpc_handlers((_Say(),))


def test_hand_written_handlers_are_measured_too():
    with LiveServer(backend="threads", http_address="127.0.0.1:0", metrics=True, handlers_hook=_custom_hook) as server:
        assert server.channel().unary_unary("/custom.Greeter/Say")(b"you", timeout=10) == b"hi you"
        metrics = scrape(f"{server.http_url}/metrics")
        assert metrics.rpc("grpc_server_handled_total", "Say", service="custom.Greeter", grpc_code="OK") == 1
        assert metrics.rpc("grpc_server_msg_sent_total", "Say", service="custom.Greeter") == 1


def test_the_probe_listener_serves_metrics_without_an_http_side(pb):
    pb2, pb_grpc = pb
    with LiveServer(probe_address="127.0.0.1:0", metrics=True, handlers_hook=HOOK) as server:
        pb_grpc.ProbeServiceControllerStub(server.channel()).Echo(pb2.ProbeMessage())
        url = f"http://127.0.0.1:{server.server.probes.port}/metrics"
        metrics = scrape(url)
        assert metrics.rpc("grpc_server_handled_total", "Echo", grpc_code="OK") == 1
        assert not metrics.labelled("http_requests_total")  # the probe listener counts no request
        # OpenMetrics when the scraper asks for it, gzip when it accepts it; GET and HEAD only.
        response = client().get(url, headers={"accept": "application/openmetrics-text; version=1.0.0",
                                              "accept-encoding": "gzip"})
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.headers["content-encoding"] == "gzip" and response.text.endswith("# EOF\n")
        assert client().post(url).status_code == 405


def test_metrics_are_off_by_default(pb):
    with LiveServer(http_address="127.0.0.1:0", handlers_hook=HOOK) as server:
        assert server.server.metrics is None and server.server.grpc.handle.metrics is None
        record = server.server.grpc.methods[f"/{PROBE}/Echo"]
        assert server.server.grpc.handle._served == {}  # grpc serves the recorded handler itself
        assert record.handler.unary_unary.__qualname__.split(".")[0] != "measured"
        assert client().get(f"{server.http_url}/metrics").status_code == 404  # Django's


def test_the_http_routes_serve_the_unmeasured_handler(pb):
    """Connect and gRPC-Web calls are HTTP requests: counted once, as such, not as gRPC calls."""
    with LiveServer(http_address="127.0.0.1:0", metrics=True, handlers_hook=HOOK) as server:
        response = client().post(f"{server.http_url}/{PROBE}/Echo", json={"message": "web"})
        assert response.status_code == 200 and response.json()["message"] == "web"
        metrics = scrape(f"{server.http_url}/metrics")
        assert metrics.value("http_requests_total", method="POST", status="200") == 1
        assert metrics.rpc("grpc_server_started_total", "Echo") == 0

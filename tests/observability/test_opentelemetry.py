"""The OpenTelemetry recipe (docs/observability.md) on real server processes: one server span per
RPC with the call's status, its parent taken from the incoming `traceparent` metadata, Django's
span for an HTTP request with its parent from the `traceparent` header, on both backends (the
thread-pool one under `--workers 2`); and every span exported when the server stops (the batch
processor holds them until then: the exporter runs at exit, in the process and in each worker)."""
from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path

import grpc
import pytest

from tests.conftest import ROOT
from tests.observability.conftest import PROBE, client

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.observability.otel_settings", "PYTHONPATH": str(ROOT)}


def _traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def _spans(directory: Path) -> list[dict]:
    spans = []
    for path in directory.glob("spans-*.json"):
        spans.extend(json.loads(path.read_text()))
    return spans


@pytest.mark.parametrize(("command", "workers"), [("grpcrunaioserver", None), ("grpcrunserver", "2")])
def test_server_spans_with_status_and_parent_exported_at_stop(start_server, pb, tmp_path, command, workers):
    pb2, pb_grpc = pb
    backend = "aio" if command == "grpcrunaioserver" else "threads"
    arguments = [command, "127.0.0.1:0", "--with-http", "127.0.0.1:0"] + (["--workers", workers] if workers else [])
    server = start_server(*arguments, env={**SETTINGS, "OTEL_TEST_BACKEND": backend, "OTEL_TEST_SPANS": str(tmp_path)},
                          )
    traced, trace_id, parent_id = _traceparent()
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb_grpc.ProbeServiceControllerStub(channel)
        assert stub.Echo(pb2.ProbeMessage(message="traced"), metadata=[("traceparent", traced)], timeout=10).message == "traced"
        for kind in ("not_found", "boom"):
            with pytest.raises(grpc.RpcError):
                stub.Fail(pb2.ProbeMessage(message=kind), timeout=10)
        assert len(list(stub.StreamAsync(pb2.ProbeMessage(message="s", count=2), timeout=10))) == 2
    web, web_trace, web_parent = _traceparent()
    assert client().get(f"{server.http_url}/hello/", headers={"traceparent": web}).status_code == 200
    client().close()
    assert _spans(tmp_path) == []  # held by the batch processor until the stop

    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
    spans = _spans(tmp_path)
    rpc = [span for span in spans if span["name"].startswith(f"/{PROBE}/")]
    assert sorted(span["name"].rsplit("/", 1)[1] for span in rpc) == ["Echo", "Fail", "Fail", "StreamAsync"]
    assert all(span["kind"] == "SpanKind.SERVER" for span in rpc)
    [echo] = [span for span in rpc if span["name"].endswith("/Echo")]
    assert echo["context"]["trace_id"] == f"0x{trace_id}" and echo["parent_id"] == f"0x{parent_id}"
    assert echo["attributes"]["rpc.grpc.status_code"] == 0 and echo["status"]["status_code"] == "UNSET"
    failed = sorted((span["attributes"]["rpc.grpc.status_code"], span["status"]["status_code"])
                    for span in rpc if span["name"].endswith("/Fail"))
    assert failed == [(2, "ERROR"), (5, "UNSET")]  # UNKNOWN is a server error, NOT_FOUND the caller's
    assert all(span["parent_id"] is None for span in rpc if span is not echo)  # no traceparent: a new trace
    [page] = [span for span in spans if span["kind"] == "SpanKind.SERVER" and span["name"].startswith("GET")]
    assert page["context"]["trace_id"] == f"0x{web_trace}" and page["parent_id"] == f"0x{web_parent}"
    if workers:  # each worker exported at its stop (the supervisor, which set Django up too, exports none)
        exporters = {int(path.stem.split("-")[1]) for path in tmp_path.glob("spans-*.json")}
        assert len(exporters - {server.pid}) == int(workers)

"""HTTP requests measured at the engine's ASGI front (`hybrid_server.http.probes.ProbeApp`).

`http_requests_total{method,status}` and `http_request_duration_seconds{method}`, the names of
the common Python exporters (prometheus-fastapi-instrumentator, starlette-exporter's shape).
No path label: paths are chosen by clients and unbounded. A method outside the standard ones is
counted as `other`, for the same reason. Django's views and the RPC routes (Connect, gRPC-Web)
are counted; the probes and the scrapes themselves are not.
"""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from hybrid_server.metrics.grpc_calls import BUCKETS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "http_requests_total", "Total number of HTTP requests answered, by method and status.",
            ("method", "status"), registry=registry)
        self.duration = Histogram(
            "http_request_duration_seconds", "Histogram of HTTP request duration (seconds), to the end of the response.",
            ("method",), buckets=BUCKETS, registry=registry)
        self._requests: dict[tuple[str, int], Any] = {}
        self._durations: dict[str, Any] = {}

    def observe(self, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "other"
        key = (method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(method, str(status))
        counter.inc()
        duration = self._durations.get(method)
        if duration is None:
            duration = self._durations[method] = self.duration.labels(method)
        duration.observe(seconds)

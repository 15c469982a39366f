"""Prometheus metrics of the hybrid server (`--metrics`, `ENABLE_METRICS`; docs/observability.md).

Off by default, and then nothing here is imported: `prometheus_client` (the `metrics` extra)
is loaded only by a serving process that has metrics on. The names follow the grpc-ecosystem
interceptors (go-grpc-prometheus), so existing dashboards and alerts work:

- `grpc_server_started_total`, `grpc_server_handled_total` (with `grpc_code`),
  `grpc_server_handling_seconds` (histogram), `grpc_server_msg_received_total`,
  `grpc_server_msg_sent_total`, labelled `grpc_type`, `grpc_service`, `grpc_method`;
  `grpc_server_in_flight` (the engine's own);
- `http_requests_total{method,status}`, `http_request_duration_seconds{method}` (histogram);
- `hybrid_server_state{state}`; the process figures (`process_*`).

Under `--workers` prometheus-client's multiprocess mode aggregates every worker
(`hybrid_server.metrics.multiprocess`); any worker's scrape returns the whole.
"""
from __future__ import annotations

import importlib.util

MISSING = "--metrics (ENABLE_METRICS) needs prometheus-client: pip install 'hybrid-server[metrics]'"


def available() -> bool:
    """prometheus-client is installed (checked without importing it)."""
    return importlib.util.find_spec("prometheus_client") is not None

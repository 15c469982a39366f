"""--access-log: one line per HTTP request on `django.server` (runserver's logger), in the gRPC
access line's shape; off by default outside --dev; client text escaped."""
import contextlib
import logging

import httpx
import pytest

from hybrid_server.testing import LiveServer


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _server_log():
    """django.server does not propagate (Django's default logging): listen on it directly, once
    the server is up (Django's get_asgi_application() sets logging up again)."""
    handler = _Collect()
    logger = logging.getLogger("django.server")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("access_log", [True, False])
def test_http_requests_are_logged_when_asked(pb, access_log):
    options = {"http_address": "127.0.0.1:0", "access_log": access_log, "handlers_hook": "testproject.handlers.grpc_handlers"}
    with LiveServer(**options) as server, _server_log() as server_log:
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            assert http.get("/hello/", params={"q": "a\nb"}).status_code == 200
            assert http.get("/no-such-page/").status_code == 404
        server.stop()  # every request's line is written by now
    lines = [record.getMessage() for record in server_log]
    if not access_log:
        assert lines == []
        return
    assert len(lines) == 2
    assert lines[0].startswith("HTTP GET /hello/?q=a%0Ab 200 ") and " peer=127.0.0.1:" in lines[0]
    assert lines[1].startswith("HTTP GET /no-such-page/ 404 ")
    levels = [record.levelno for record in server_log]
    assert levels == [logging.INFO, logging.WARNING]


def test_a_request_is_logged_and_counted_once_its_response_has_ended():
    """Django's handler returns after closing the response in a thread, so a client that has read
    the whole response (then scrapes /metrics, or reads the log) used to race the record. The
    ProbeApp records at the last body message; the inner app here checks that before returning."""
    import asyncio
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from hybrid_server.http.probes import ProbeApp
    from hybrid_server.lifecycle import Lifecycle, State
    from hybrid_server.metrics.http_requests import HttpMetrics

    http = HttpMetrics(CollectorRegistry())
    seen = {}

    def counted(status):
        return http.requests.labels("GET", str(status))._value.get()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no", "more_body": True})
        seen["mid-body"] = counted(404)
        await send({"type": "http.response.body", "body": b"pe"})
        seen["ended"], seen["log"] = counted(404), [r.getMessage() for r in server_log]

    lifecycle = Lifecycle()
    lifecycle.state = State.SERVING
    probe = ProbeApp(app, lifecycle, "/healthz", "/readyz", access_log=True, metrics=SimpleNamespace(path="/metrics", http=http))
    scope = {"type": "http", "method": "GET", "path": "/gone/", "query_string": b"", "client": ("127.0.0.1", 5)}

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    with _server_log() as server_log:
        asyncio.run(probe(scope, receive, send))
    assert seen["mid-body"] == 0
    assert seen["ended"] == 1 and counted(404) == 1  # once, not again when the app returns
    assert len(seen["log"]) == 1 and seen["log"][0].startswith("HTTP GET /gone/ 404 ")

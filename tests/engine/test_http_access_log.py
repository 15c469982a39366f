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

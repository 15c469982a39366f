"""CORS of the RPC routes; the routes off (ENABLE_HTTP_RPC); the start-up note about interceptors."""
from __future__ import annotations

import logging

import httpx

from hybrid_server.testing import LiveServer
from tests.http_rpc.conftest import ORIGIN, PROBE, server_options

PREFLIGHT = {"access-control-request-method": "POST",
             "access-control-request-headers": "content-type,connect-protocol-version,x-ask"}


def test_preflight_from_an_allowed_origin(http):
    reply = http.options(f"{PROBE}/Echo", headers={"origin": ORIGIN, **PREFLIGHT})
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    allowed = reply.headers["access-control-allow-headers"].split(", ")
    for name in ("content-type", "connect-protocol-version", "connect-timeout-ms", "grpc-timeout", "x-grpc-web", "x-ask"):
        assert name in allowed
    assert "POST" in reply.headers["access-control-allow-methods"]


def test_preflight_from_another_origin_is_refused(http):
    reply = http.options(f"{PROBE}/Echo", headers={"origin": "http://evil.example", **PREFLIGHT})
    assert reply.status_code == 403
    assert "access-control-allow-origin" not in reply.headers


def test_calls_from_an_allowed_origin_expose_the_response_headers(http):
    reply = http.post("/test.Web/Meta", json={}, headers={"origin": ORIGIN})
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    exposed = reply.headers["access-control-expose-headers"].split(", ")
    assert {"grpc-status", "grpc-message", "x-initial", "trailer-x-trailer"} <= set(exposed)
    other = http.post(f"{PROBE}/Echo", json={}, headers={"origin": "http://evil.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def test_no_cors_unless_configured(pb):
    with LiveServer(**server_options(cors_allowed_origins=[])) as live:
        reply = httpx.options(f"{live.http_url}{PROBE}/Echo", headers={"origin": ORIGIN, **PREFLIGHT})
        assert "access-control-allow-origin" not in reply.headers
        assert reply.status_code == 405


def test_routes_off(pb):
    with LiveServer(**server_options(http_rpc=False)) as live:
        reply = httpx.post(f"{live.http_url}{PROBE}/Echo", json={})
        assert reply.status_code in (403, 404)  # Django's (CSRF or not found)
        assert live.server.http.rpc is None


def test_interceptors_are_named_at_start_up(pb, caplog):
    from testproject.interceptors import BlockingInterceptor

    with caplog.at_level(logging.WARNING, logger="hybrid_server.http"), LiveServer(
            **server_options(interceptors=[BlockingInterceptor()])) as live:
        # ...and indeed do not run there: x-block would be refused on the gRPC port.
        assert httpx.post(f"{live.http_url}{PROBE}/Echo", json={}, headers={"x-block": "1"}).status_code == 200
    assert any("SERVER_INTERCEPTORS run on the gRPC port only" in record.getMessage() for record in caplog.records)


def test_calls_are_in_the_http_access_log(pb):
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    with LiveServer(**server_options(access_log=True)) as live:
        logger = logging.getLogger("django.server")  # does not propagate: listen on it directly
        handler = Collect(logging.DEBUG)
        logger.addHandler(handler)
        try:
            assert httpx.post(f"{live.http_url}{PROBE}/Echo", json={}).status_code == 200
            assert httpx.post(f"{live.http_url}{PROBE}/Fail", json={"message": "not_found"}).status_code == 404
        finally:
            logger.removeHandler(handler)
    lines = [record.getMessage() for record in records]
    assert any(f"POST {PROBE}/Echo 200" in line for line in lines), lines
    assert any(f"POST {PROBE}/Fail 404" in line for line in lines), lines

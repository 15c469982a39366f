"""The HTTP side's limits: a header timeout (slowloris), a header size limit (431) and a body size
limit applied before the body is read (413); the application never sees what is refused."""
import socket

import httpx
import pytest

from hybrid_server.testing import LiveServer


@pytest.fixture(scope="module")
def server(pb):
    limits = {"http_header_timeout": 0.5, "http_max_header_size": 8192, "http_max_body_size": 1024}
    with LiveServer(http_address="127.0.0.1:0", handlers_hook="testproject.handlers.grpc_handlers", **limits) as live:
        yield live


def _raw(server, data: bytes) -> bytes:
    """Send `data`, then read until the server closes the connection (bounded by a timeout)."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_unfinished_headers_are_closed_after_the_timeout(server):
    answer = _raw(server, b"GET /hello/ HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_oversized_headers_get_431(server):
    answer = _raw(server, b"GET /hello/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_declared_oversized_body_gets_413_before_it_is_sent(server):
    answer = _raw(server, b"POST /hello/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_chunked_body_over_the_limit_gets_413(server):
    chunk = b"800\r\n" + b"b" * 0x800 + b"\r\n"
    answer = _raw(server, b"POST /hello/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_requests_within_the_limits_are_served_on_one_connection(server):
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        for _ in range(3):
            assert http.get("/hello/", headers={"X-Fine": "a" * 4000}).text == "hello from django"
            assert http.post("/hello/", content=b"c" * 1000).status_code in (200, 403)  # CSRF may refuse a POST

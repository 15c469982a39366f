"""gRPC-Web over the HTTP port with plain HTTP posts, on both backends: binary and text, unary
and server streams, the trailers frame, grpc-timeout, metadata both ways."""
from __future__ import annotations

import base64

import pytest

from tests.http_rpc.conftest import PROBE, WEB, envelope, grpc_web

WEB_PROTO = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
WEB_TEXT = {"content-type": "application/grpc-web-text", "x-grpc-web": "1"}


@pytest.mark.parametrize("action", ["Echo", "SyncEcho"])
def test_unary(http, msg, action):
    reply = http.post(f"{PROBE}/{action}", content=envelope(msg(message="w", count=2).SerializeToString()), headers=WEB_PROTO)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/grpc-web+proto"
    messages, trailers = grpc_web(reply.content, msg)
    assert messages == [msg(message="w", count=2, thread=f"before:{action}")]
    assert trailers["grpc-status"] == "0"


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_server_stream_in_text_mode(http, msg, action):
    body = base64.b64encode(envelope(msg(message="t", count=3).SerializeToString()))
    reply = http.post(f"{PROBE}/{action}", content=body, headers=WEB_TEXT)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/grpc-web-text"
    # Each frame is base64 on its own (padding included), as it was sent.
    decoded = b"".join(base64.b64decode(chunk + b"=" * (-len(chunk) % 4))
                       for chunk in reply.content.replace(b"=", b"=\n").split() if chunk)
    messages, trailers = grpc_web(decoded, msg)
    assert [item.message for item in messages] == ["t0", "t1", "t2"]
    assert trailers["grpc-status"] == "0"


@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
def test_errors_are_in_the_trailers_frame(http, msg, action):
    reply = http.post(f"{PROBE}/{action}", content=envelope(msg(message="not_found").SerializeToString()), headers=WEB_PROTO)
    assert reply.status_code == 200
    messages, trailers = grpc_web(reply.content, msg)
    assert messages == []
    assert trailers["grpc-status"] == "5"
    assert "no such thing" in __import__("urllib.parse").parse.unquote(trailers["grpc-message"])
    hidden = grpc_web(http.post(f"{PROBE}/{action}", content=envelope(msg(message="x").SerializeToString()),
                                headers=WEB_PROTO).content, msg)[1]
    assert (hidden["grpc-status"], hidden["grpc-message"]) == ("2", "ValueError")


def test_grpc_timeout(http, msg):
    reply = http.post(f"{PROBE}/AsyncSleep", content=envelope(msg(seconds=5).SerializeToString()),
                      headers={**WEB_PROTO, "grpc-timeout": "150m"})
    assert grpc_web(reply.content, msg)[1]["grpc-status"] == "4"  # DEADLINE_EXCEEDED
    bad = http.post(f"{PROBE}/Echo", content=envelope(b""), headers={**WEB_PROTO, "grpc-timeout": "1x"})
    assert grpc_web(bad.content, msg)[1]["grpc-status"] == "3"


def test_metadata_both_ways(http, msg):
    reply = http.post(f"{WEB}/Meta", content=envelope(b""), headers={**WEB_PROTO, "x-ask": "web"})
    messages, trailers = grpc_web(reply.content, msg)
    assert messages[0].message == "web"
    assert reply.headers["x-initial"] == "early"
    assert trailers["x-trailer"] == "late"
    assert base64.b64decode(trailers["x-blob-bin"] + "==") == b"\x00\x01\x02"


def test_client_streams_are_unimplemented(http, msg):
    reply = http.post(f"{PROBE}/CollectSync", content=envelope(b""), headers=WEB_PROTO)
    trailers = grpc_web(reply.content, msg)[1]
    assert trailers["grpc-status"] == "12"


def test_health_over_http_on_the_aio_backend(http, backend):
    from grpc_health.v1 import health_pb2

    reply = http.post("/grpc.health.v1.Health/Check", content=envelope(health_pb2.HealthCheckRequest().SerializeToString()),
                      headers=WEB_PROTO)
    messages, trailers = grpc_web(reply.content, health_pb2.HealthCheckResponse)
    if backend == "aio":
        assert messages[0].status == health_pb2.HealthCheckResponse.SERVING
    else:  # grpc's thread-pool health servicer is plain functions: not served over HTTP
        assert trailers["grpc-status"] == "12"

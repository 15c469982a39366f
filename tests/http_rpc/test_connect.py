"""Connect over the HTTP port with plain HTTP posts (what curl sends), on both backends: every
shape that HTTP/1.1 can carry, `def` and `async def`, errors and their HTTP statuses, deadlines,
metadata both ways, compression, the size limit, and the one per-RPC path behind it."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from tests.http_rpc import services
from tests.http_rpc.conftest import MAX_RECEIVE, PROBE, WEB, connect_stream, envelope

STREAM = {"content-type": "application/connect+json"}


@pytest.mark.parametrize("action", ["Echo", "SyncEcho"])
def test_unary_json_runs_the_hooks_and_the_action(http, action):
    reply = http.post(f"{PROBE}/{action}", json={"message": "hi", "count": 3})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"message": "hi", "count": 3, "thread": f"before:{action}"}  # before_action ran


@pytest.mark.parametrize("action", ["Echo", "SyncEcho"])
def test_unary_proto(http, msg, action):
    reply = http.post(f"{PROBE}/{action}", content=msg(message="bin", count=7).SerializeToString(),
                      headers={"content-type": "application/proto", "connect-protocol-version": "1"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/proto"
    assert msg.FromString(reply.content) == msg(message="bin", count=7, thread=f"before:{action}")


def test_unary_without_a_body_is_the_empty_message(http):
    reply = http.post(f"{PROBE}/Echo", content=b"", headers={"content-type": "application/json"})
    assert reply.status_code == 200
    assert reply.json() == {"thread": "before:Echo"}


def test_def_actions_run_in_the_servers_worker_pool(http):
    reply = http.post(f"{PROBE}/SyncSleep", json={"seconds": 0})
    assert reply.json()["thread"].startswith("grpc-worker")


@pytest.mark.parametrize(("kind", "code", "status"), [
    ("not_found", "not_found", 404), ("invalid", "invalid_argument", 400), ("permission", "permission_denied", 403),
    ("unauthenticated", "unauthenticated", 401), ("already_exist", "already_exists", 409),
    ("unimplemented", "unimplemented", 501), ("does_not_exist", "not_found", 404),
    ("abort", "failed_precondition", 400),
])
@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
def test_errors_are_connect_errors_with_their_http_status(http, action, kind, code, status):
    reply = http.post(f"{PROBE}/{action}", json={"message": kind})
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()
    assert error["code"] == code
    assert error["message"]


@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
def test_unexpected_errors_show_the_class_name_only(http, action):
    reply = http.post(f"{PROBE}/{action}", json={"message": "boom"})
    assert reply.status_code == 500
    assert reply.json() == {"code": "unknown", "message": "ValueError"}  # DEBUG is off: no "secret internals"


def test_details_of_handled_errors_are_the_apps_json(http):
    error = http.post(f"{PROBE}/Fail", json={"message": "not_found"}).json()
    assert json.loads(error["message"]) == {"message": "no such thing", "code": "not_found"}


@pytest.mark.parametrize("action", ["AsyncSleep", "SyncSleep"])
def test_connect_timeout_ms_is_the_deadline(http, action):
    reply = http.post(f"{PROBE}/{action}", json={"seconds": 1}, headers={"connect-timeout-ms": "100"})
    assert reply.status_code == 504
    assert reply.json()["code"] == "deadline_exceeded"
    within = http.post(f"{PROBE}/{action}", json={"seconds": 0.01}, headers={"connect-timeout-ms": "10000"})
    assert within.json()["message"] == "slept"


def test_time_remaining_and_peer(http):
    reply = http.post(f"{WEB}/Peer", json={}, headers={"connect-timeout-ms": "30000"}).json()
    assert reply["message"].startswith("ipv4:127.0.0.1:")
    assert 25 <= reply["count"] <= 30
    assert http.post(f"{WEB}/Peer", json={}).json()["count"] == -1


def test_metadata_both_ways(http):
    reply = http.post(f"{WEB}/Meta", json={}, headers={
        "x-ask": "from a header", "x-data-bin": base64.b64encode(b"\x00\xff\x10").decode().rstrip("=")})
    assert reply.status_code == 200
    assert reply.json() == {"message": "from a header", "count": 3}
    assert reply.headers["x-initial"] == "early"
    assert reply.headers["trailer-x-trailer"] == "late"
    assert base64.b64decode(reply.headers["trailer-x-blob-bin"] + "==") == b"\x00\x01\x02"


def test_metadata_of_a_def_action(http):
    reply = http.post(f"{WEB}/SyncMeta", json={}, headers={"x-ask": "sync"})
    assert reply.json() == {"message": "sync"}
    assert reply.headers["trailer-x-trailer"] == "late-sync"


def test_trailing_metadata_of_an_error_goes_with_it(http):
    reply = http.post(f"{PROBE}/Fail", json={"message": "abort"})
    assert reply.json()["message"] == "aborted by action"


def test_gzip_both_ways(http):
    body = gzip.compress(json.dumps({"message": "z" * 5000}).encode())
    reply = http.post(f"{PROBE}/Echo", content=body, headers={
        "content-type": "application/json", "content-encoding": "gzip", "accept-encoding": "gzip"})
    assert reply.status_code == 200
    assert reply.headers["content-encoding"] == "gzip"  # httpx decoded it
    assert reply.json()["message"] == "z" * 5000
    small = http.post(f"{PROBE}/Echo", json={"message": "s"}, headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers  # below 1 KiB: not worth compressing


def test_unknown_compression_is_unimplemented(http):
    reply = http.post(f"{PROBE}/Echo", content=b"{}", headers={"content-type": "application/json", "content-encoding": "br"})
    assert reply.status_code == 501
    assert "gzip" in reply.json()["message"]


def test_a_request_over_the_receive_limit_is_resource_exhausted(http):
    reply = http.post(f"{PROBE}/Echo", json={"message": "x" * (MAX_RECEIVE + 10)})
    assert reply.status_code == 429
    assert reply.json()["code"] == "resource_exhausted"
    bomb = gzip.compress(json.dumps({"message": "y" * (MAX_RECEIVE * 4)}).encode())
    assert len(bomb) < MAX_RECEIVE
    reply = http.post(f"{PROBE}/Echo", content=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert reply.json()["code"] == "resource_exhausted"
    assert http.post(f"{PROBE}/Echo", json={"message": "fits"}).status_code == 200  # the server is fine


def test_bad_requests(http):
    bad_json = http.post(f"{PROBE}/Echo", content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["code"] == "invalid_argument"
    bad_proto = http.post(f"{PROBE}/Echo", content=b"\xff\xff\xff", headers={"content-type": "application/proto"})
    assert bad_proto.json() == {"code": "invalid_argument", "message": "request is not a valid testproject.testapp.ProbeMessage"}
    version = http.post(f"{PROBE}/Echo", json={}, headers={"connect-protocol-version": "2"})
    assert version.status_code == 400
    timeout = http.post(f"{PROBE}/Echo", json={}, headers={"connect-timeout-ms": "soon"})
    assert timeout.status_code == 400
    media = http.post(f"{PROBE}/Echo", content=b"x", headers={"content-type": "text/plain"})
    assert media.status_code == 415
    assert "application/json" in media.headers["accept-post"]
    native = http.post(f"{PROBE}/Echo", content=b"", headers={"content-type": "application/grpc"})
    assert native.status_code == 415 and "gRPC port" in native.text
    assert http.get(f"{PROBE}/Echo").status_code == 405


def test_client_and_bidi_streams_are_unimplemented_and_say_why(http):
    for action in ("CollectAsync", "BidiSync"):
        reply = http.post(f"{PROBE}/{action}", json={})
        assert reply.status_code == 501
        error = reply.json()
        assert error["code"] == "unimplemented"
        assert "HTTP/1.1" in error["message"] and "gRPC port" in error["message"]


def test_unknown_methods_and_other_paths(http):
    unknown = http.post(f"{PROBE}/NoSuchMethod", json={})
    assert unknown.json()["code"] == "unimplemented"
    assert http.get("/hello/").text == "hello from django"  # everything else is Django's
    assert http.get("/healthz").status_code == 200


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_server_stream(http, action):
    reply = http.post(f"{PROBE}/{action}", content=envelope(b'{"message": "m", "count": 3}'), headers=STREAM)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/connect+json"
    messages, end = connect_stream(reply.content)
    assert [item["message"] for item in messages] == ["m0", "m1", "m2"]
    assert end == {}


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_an_error_after_messages_ends_the_stream_with_it(http, action):
    reply = http.post(f"{PROBE}/{action}", content=envelope(b'{"message": "fail", "count": 2}'), headers=STREAM)
    assert reply.status_code == 200
    messages, end = connect_stream(reply.content)
    assert len(messages) == 2
    assert end["error"]["code"] == "invalid_argument"


def test_a_unary_method_over_the_streaming_protocol(http, msg):
    reply = http.post(f"{WEB}/Meta", content=envelope(msg(message="s").SerializeToString()),
                      headers={"content-type": "application/connect+proto", "x-ask": "streamed"})
    frames = reply.content
    assert reply.headers["content-type"] == "application/connect+proto"
    assert reply.headers["x-initial"] == "early"
    assert msg.FromString(frames[5 : 5 + frames[4]]).message == "streamed"
    end = json.loads(frames[5 + frames[4] + 5 :])
    assert end["metadata"]["x-trailer"] == ["late"]
    assert end["metadata"]["x-blob-bin"] == [base64.b64encode(b"\x00\x01\x02").decode().rstrip("=")]


def test_a_stream_deadline_ends_it_with_deadline_exceeded(http):
    services.ENDED.clear()
    reply = http.post(f"{WEB}/Endless", content=envelope(b'{"message": "e"}'),
                      headers={**STREAM, "connect-timeout-ms": "200"})
    messages, end = connect_stream(reply.content)
    assert messages
    assert end["error"]["code"] == "deadline_exceeded"
    assert services.ENDED == ["cancelled"]  # the action was cancelled, as on the gRPC port


def test_a_client_leaving_a_stream_cancels_it(live):
    import httpx

    services.ENDED.clear()
    services.ENDED_EVENT.clear()
    with httpx.Client(base_url=live.http_url, timeout=20) as client, client.stream(
            "POST", f"{WEB}/Endless", content=envelope(b'{"message": "l"}'), headers=STREAM) as reply:
        for _chunk in reply.iter_bytes():
            break
    assert services.ENDED_EVENT.wait(10)
    assert services.ENDED[-1] in ("cancelled", "closed")


def test_compressed_stream_messages(http):
    payload = gzip.compress(json.dumps({"message": "c" * 3000, "count": 2}).encode())
    reply = http.post(f"{PROBE}/StreamAsync", content=envelope(payload, flags=1), headers={
        **STREAM, "connect-content-encoding": "gzip", "connect-accept-encoding": "gzip"})
    assert reply.headers["connect-content-encoding"] == "gzip"
    frames = []
    body, offset = reply.content, 0
    while offset < len(body):
        flags, size = body[offset], int.from_bytes(body[offset + 1 : offset + 5], "big")
        data = body[offset + 5 : offset + 5 + size]
        frames.append((flags, gzip.decompress(data) if flags & 1 else data))
        offset += 5 + size
    assert [json.loads(data)["message"] for flags, data in frames[:-1]] == ["c" * 3000 + "0", "c" * 3000 + "1"]
    assert frames[0][0] & 1  # compressed

"""Bytes that are not the expected message: INVALID_ARGUMENT without internals, every shape."""
from __future__ import annotations

import grpc
import pytest

TIMEOUT = 10
GARBAGE = b"\xff\xff\xff"
DETAILS = "request is not a valid testproject.testapp.ProbeMessage"


def still_answers(client, msg):
    assert client("test.Shapes", "Unary")(msg(), timeout=TIMEOUT).count == 1


@pytest.mark.parametrize("method", ["Unary", "SyncUnary", "ServerStream", "SyncServerStream"])
@pytest.mark.parametrize("body", ["garbage", "truncated"])
def test_undecodable_request(client, msg, method, body):
    whole = msg(message="a message long enough to cut in half", count=3).SerializeToString()
    data = GARBAGE if body == "garbage" else whole[: len(whole) // 2]
    with pytest.raises(grpc.RpcError) as info:
        result = client.raw("test.Shapes", method)(data, timeout=TIMEOUT)
        if method.endswith("Stream"):
            list(result)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, DETAILS)
    still_answers(client, msg)


@pytest.mark.parametrize("method", ["ClientStream", "SyncClientStream", "Bidi", "SyncBidi"])
def test_undecodable_message_in_a_request_stream(client, msg, method):
    good = msg(message="a").SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        result = client.raw("test.Shapes", method)(iter([good, GARBAGE, good]), timeout=TIMEOUT)
        if method.endswith("Bidi"):
            list(result)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, DETAILS)
    still_answers(client, msg)


def test_generated_servicer_is_guarded_too(live, pb):
    """A service added through its generated add_XServicer_to_server (the registry's way)."""
    channel = live.channel()
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/testproject.testapp.ProbeServiceController/SyncEcho")(GARBAGE, timeout=TIMEOUT)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, DETAILS)


def test_no_access_line_for_an_undecodable_request(client, msg, request_log):
    """It never reaches a middleware: the envelope ends it before the call is made."""
    with pytest.raises(grpc.RpcError):
        client.raw("test.Shapes", "Unary")(GARBAGE, timeout=TIMEOUT)
    assert request_log.records == []

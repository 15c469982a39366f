"""Faults on the per-RPC path, in-process, on both backends: misaddressed calls, clients that go
away mid-stream, actions that hang past their deadline; and `grpc_action` declarations of the
wrong type, refused when the decorator is applied.

(Undecodable, truncated and oversized requests, and streams that fail after yielding, are in
test_decode_guard.py, test_errors.py and tests/engine/test_production.py.)

Synchronisation is on the server: the test project's hold actions report "started" and run
until the test creates their marker file; `_Holds.running` counts those still running.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from django.conf import settings
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_socio_grpc.decorators import GRPC_ACTION_ATTR, ActionSpec, grpc_action
from hybrid_server.testing import LiveServer
from tests.waiting import wait_until

SERVICE = "testproject.testapp.ProbeServiceController"
WORKERS = 8
HOLD = 30.0  # seconds a hold lasts unless released: far longer than any test waits for it
TIMEOUT = 10


@pytest.fixture(scope="module")
def server(pb: Any, backend: str) -> Iterator[LiveServer]:
    # Holds are streaming `def` actions: let them take every worker (MAX_STREAM_WORKERS defaults to half).
    with override_settings(GRPC_FRAMEWORK={**settings.GRPC_FRAMEWORK, "MAX_STREAM_WORKERS": WORKERS}), LiveServer(
        backend=backend, handlers_hook="testproject.handlers.grpc_handlers", max_workers=WORKERS
    ) as live:
        yield live


@pytest.fixture(scope="module")
def stub(server: LiveServer, pb: Any) -> Any:
    return pb[1].ProbeServiceControllerStub(server.channel())


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """The release file of the test's holds; created at the end whatever happened, so no hold
    outlives its test on the shared server."""
    path = tmp_path / "release"
    yield path
    path.write_text("")


def holds(stub: Any, pb: Any, marker: Path, action: str, count: int, timeout: float = HOLD) -> list[Any]:
    """`count` hold calls, each reported started by the server (or failing at `timeout`)."""
    calls = [getattr(stub, action)(pb[0].ProbeMessage(message=str(marker), seconds=HOLD), timeout=timeout)
             for _ in range(count)]
    assert [next(call).message for call in calls] == ["started"] * count
    return calls


def running_holds() -> int:
    from testapp.services.probe_service import _Holds

    return _Holds.running




def assert_still_answers(stub: Any, pb: Any, tag: str = "alive") -> None:
    for action in ("Echo", "SyncEcho"):
        reply = getattr(stub, action)(pb[0].ProbeMessage(message=tag, count=7), timeout=TIMEOUT)
        assert (reply.message, reply.count) == (tag, 7), action


# --------------------------------------------------------------------------- misaddressed


@pytest.mark.parametrize(
    ("service", "method"),
    [(SERVICE, "NoSuchMethod"), ("testproject.testapp.NoSuchController", "Echo"), ("nope", "Echo")],
    ids=["wrong-method", "wrong-service", "wrong-package"],
)
def test_wrong_path_is_unimplemented(server, stub, pb, service, method):
    body = pb[0].ProbeMessage(message="x").SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        server.channel().unary_unary(f"/{service}/{method}")(body, timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert_still_answers(stub, pb)


# --------------------------------------------------------------------------- clients that go away


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
@pytest.mark.parametrize("how", ["cancel", "close-channel"])
def test_client_gone_mid_stream_releases_the_server(server, stub, pb, action, how, marker, caplog):
    """As many streams as there are workers, each good for ~1000 s, abandoned after 3 messages.

    The server stops them: afterwards as many blocking `def` holds all start, one per worker.
    A `def` stream still running would keep its worker thread (so would any stream on the
    thread-pool backend), and the holds would fail at their deadline instead.
    """
    caplog.set_level(logging.INFO)
    pb2 = pb[0]
    for _ in range(WORKERS):
        channel = grpc.insecure_channel(server.grpc_target)
        streamer = channel.unary_stream(f"/{SERVICE}/{action}", response_deserializer=pb2.ProbeMessage.FromString)
        stream = streamer(pb2.ProbeMessage(message="s", count=100_000, seconds=0.01).SerializeToString(), timeout=120)
        assert [next(stream).count for _ in range(3)] == [0, 1, 2]
        if how == "cancel":
            assert stream.cancel()
            with pytest.raises(grpc.RpcError) as info:
                next(stream)
            assert info.value.code() == grpc.StatusCode.CANCELLED
        channel.close()
    assert_still_answers(stub, pb)
    calls = holds(stub, pb, marker, "HoldSync", WORKERS)
    marker.write_text("")
    assert [next(call).message for call in calls] == ["released"] * WORKERS
    problems = [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
    assert not problems, [record.getMessage() for record in problems]


# --------------------------------------------------------------------------- hanging actions


def test_actions_past_their_deadline(stub, pb, marker):
    """The call fails with DEADLINE_EXCEEDED; on the server an `async def` action is cancelled
    there and then, a `def` action (which nothing can interrupt) runs on until it returns."""
    message = pb[0].ProbeMessage(message=str(marker), seconds=HOLD)
    calls = [stub.HoldAsync(message, timeout=3), stub.HoldSync(message, timeout=3)]
    assert [next(call).message for call in calls] == ["started"] * 2
    both = running_holds()  # ours, and any other test's hold still finishing (counts only go down)
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            next(call)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Unreleased, each hold would run for HOLD seconds: the async one ends because it was cancelled.
    wait_until(lambda: running_holds() <= both - 1, "the async hold cancelled at its deadline")
    assert running_holds() >= 1, "the def hold ended at the deadline: nothing can interrupt it"
    marker.write_text("")
    wait_until(lambda: running_holds() <= both - 2, "the def hold returned once released")
    assert_still_answers(stub, pb)


def test_hanging_actions_block_nothing(stub, pb, marker):
    """3 async and 3 `def` holds of the 8 workers (the thread-pool backend holds a worker for
    an `async def` action too): other calls are answered meanwhile, the holds go on."""
    hanging = holds(stub, pb, marker, "HoldAsync", 3) + holds(stub, pb, marker, "HoldSync", 3)
    for round_ in range(5):
        assert_still_answers(stub, pb, f"meanwhile{round_}")
    assert not any(call.done() for call in hanging), "hanging calls ended early"
    marker.write_text("")
    assert [next(call).message for call in hanging] == ["released"] * 6
    assert_still_answers(stub, pb, "after")


# --------------------------------------------------------------------------- grpc_action declarations

FIELD = st.fixed_dictionaries({"name": st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
                               "type": st.sampled_from(["string", "int32", "bool"])})
VALID_SPEC = st.one_of(st.lists(FIELD, max_size=3), st.sampled_from(["google.protobuf.Empty", "Other", "pkg.Message"]))
INVALID_SPEC = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.binary(max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.tuples(FIELD),
    st.frozensets(st.integers(), max_size=2),
)


@hypothesis_settings(max_examples=30, deadline=None, database=None)
@given(request=st.one_of(st.none(), VALID_SPEC), response=st.one_of(st.none(), VALID_SPEC),
       request_stream=st.sampled_from([False, True, 0, 1, "", "yes", None]),
       response_stream=st.sampled_from([False, True, 0, 1]))
def test_grpc_action_records_lists_and_names(request, response, request_stream, response_stream):
    def action(self, request, context): ...

    decorated = grpc_action(
        request=request, response=response, request_stream=request_stream, response_stream=response_stream,
        use_generation_plugins=["ignored"],  # an original-API keyword: accepted and ignored
    )(action)
    assert decorated is action
    spec = getattr(decorated, GRPC_ACTION_ATTR)
    assert isinstance(spec, ActionSpec)
    assert spec.request == ([] if request is None else request)
    assert spec.response == ([] if response is None else response)
    assert (spec.request_stream, spec.response_stream) == (bool(request_stream), bool(response_stream))


@hypothesis_settings(max_examples=30, deadline=None, database=None)
@given(bad=INVALID_SPEC, which=st.sampled_from(["request", "response"]), other=VALID_SPEC)
def test_grpc_action_rejects_other_types_when_applied(bad, which, other):
    kwargs = {"request": other, "response": other, which: bad}
    with pytest.raises(TypeError) as info:
        grpc_action(**kwargs)
    message = str(info.value)
    assert f"grpc_action({which}=...)" in message
    assert type(bad).__name__ in message

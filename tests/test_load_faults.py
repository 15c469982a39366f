"""The server under load and under faults: real commands in subprocesses, loopback only.

- SIGTERM in the middle of sustained gRPC + HTTP load loses no call that started before it;
  calls after the listeners close fail cleanly (never a wrong answer, never UNKNOWN/INTERNAL:
  gRPC UNAVAILABLE, or CANCELLED for one that reached the server just as it stopped).
- 50,000 RPCs do not grow the server's resident memory.
- Malformed, oversized, misaddressed, abandoned, failing and hanging calls each get a proper
  status and leave the server answering.
- `grpc_action` rejects declarations of the wrong type when it is applied.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import time
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from django_socio_grpc.decorators import GRPC_ACTION_ATTR, ActionSpec, grpc_action
from tests.procs import port_is_open

COMMANDS = ["grpcrunaioserver", "grpcrunserver"]
SERVICE = "testproject.testapp.ProbeServiceController"


@pytest.fixture(params=COMMANDS)
def command(request: pytest.FixtureRequest) -> str:
    return request.param


def assert_still_answers(stub: Any, pb2: Any, tag: str = "alive") -> None:
    for action in ("Echo", "SyncEcho"):
        reply = getattr(stub, action)(pb2.ProbeMessage(message=tag, count=7), timeout=10)
        assert (reply.message, reply.count) == (tag, 7), action


# ============================================================================ 1. SIGTERM under load

GRPC_CALLERS = 64
HTTP_CALLERS = 16
LOAD_BEFORE_SIGNAL = 1.5
DRAIN_DELAY = 0.5
# Failures after the signal: a refused or closed connection, nothing else.
HTTP_CLEAN_FAILURES = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def _sigterm_under_load(server: Any, pb2: Any, pb_grpc: Any) -> dict[str, Any]:
    """All callers in one event loop (no GIL queue between "started" and "sent").

    Each record is (start, end, protocol, outcome, detail); times are loop.time() (monotonic),
    the same clock the signal time is read from.
    """
    loop = asyncio.get_running_loop()
    records: list[tuple[float, float, str, str, str]] = []
    stop = asyncio.Event()
    channels = [grpc.aio.insecure_channel(server.grpc_target) for _ in range(4)]

    async def grpc_caller(index: int) -> None:
        stub = pb_grpc.ProbeServiceControllerStub(channels[index % len(channels)])
        kind = index % 3
        number = 0
        while not stop.is_set():
            number += 1
            token = f"g{index}-{number}"
            started = loop.time()
            detail = ""
            try:
                if kind == 0:
                    reply = await stub.AsyncSleep(pb2.ProbeMessage(message=token, seconds=0.2), timeout=20)
                    good = (reply.message, reply.seconds) == ("slept", 0.2)
                else:
                    action = stub.Echo if kind == 1 else stub.SyncEcho
                    reply = await action(pb2.ProbeMessage(message=token, count=number), timeout=20)
                    good = (reply.message, reply.count) == (token, number)
                outcome = "OK" if good else "WRONG"
                detail = "" if good else repr(reply)
            except grpc.RpcError as exc:
                outcome, detail = exc.code().name, f"{('AsyncSleep', 'Echo', 'SyncEcho')[kind]}: {exc.details()}"
            records.append((started, loop.time(), "grpc", outcome, detail))
            await asyncio.sleep(0.05 if outcome != "OK" else 0.01 if kind else 0)

    async def http_caller(index: int) -> None:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=20) as client:
            while not stop.is_set():
                started = loop.time()
                try:
                    response = await client.get("/slow/", params={"seconds": "0.2"})
                    good = (response.status_code, response.text) == (200, "slow done")
                    outcome, detail = ("OK", "") if good else ("WRONG", f"{response.status_code} {response.text[:200]!r}")
                except httpx.HTTPError as exc:
                    outcome, detail = type(exc).__name__, str(exc)
                records.append((started, loop.time(), "http", outcome, detail))
                if outcome != "OK":
                    await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(grpc_caller(i)) for i in range(GRPC_CALLERS)]
    tasks += [asyncio.create_task(http_caller(i)) for i in range(HTTP_CALLERS)]
    try:
        await asyncio.sleep(LOAD_BEFORE_SIGNAL)
        signalled = loop.time()
        server.signal(signal.SIGTERM)
        deadline = signalled + 30
        while server.proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.02)
        exited = loop.time()
        await asyncio.sleep(0.5)  # keep calling a server that is gone
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()
    return {"records": records, "signalled": signalled, "exited": exited}


def test_sigterm_under_load_loses_no_call_started_before_it(start_server, command, pb):
    pb2, pb_grpc = pb
    server = start_server(
        command, "127.0.0.1:0", "--with-http", "127.0.0.1:0",
        "--max-workers", "16", "--grace", "10", "--drain-delay", str(DRAIN_DELAY),
    )
    result = asyncio.run(_sigterm_under_load(server, pb2, pb_grpc))
    records, signalled, exited = result["records"], result["signalled"], result["exited"]

    assert server.proc.poll() == 0, server.output
    assert not port_is_open(server.grpc_port)
    assert not port_is_open(server.http_port)

    def summary(rows: list[tuple[float, float, str, str, str]]) -> str:
        counts: dict[tuple[str, str], int] = {}
        for _, _, protocol, outcome, _ in rows:
            counts[(protocol, outcome)] = counts.get((protocol, outcome), 0) + 1
        examples = {(p, o): d for _, _, p, o, d in rows if o != "OK"}
        times = {
            key: sorted({(round(s - signalled, 2), round(e - signalled, 2)) for s, e, p, o, _ in rows if (p, o) == key})[:10]
            for key in counts if key[1] != "OK"
        }
        return f"{counts} examples={examples} (start, end) after the signal={times} exit at {exited - signalled:.2f}"

    before = [r for r in records if r[0] < signalled]
    after = [r for r in records if r[0] >= signalled]
    gone = [r for r in records if r[0] > exited]
    print("after the signal:", summary(after))
    # Sustained load really happened on both protocols before the signal.
    assert sum(r[2] == "grpc" for r in before) > 4 * GRPC_CALLERS, summary(before)
    assert sum(r[2] == "http" for r in before) > HTTP_CALLERS, summary(before)

    # Every call that started before the signal was served, right.
    failed_before = [r for r in before if r[3] != "OK"]
    assert not failed_before, summary(failed_before)

    # Never a wrong answer, and after the signal only clean failures:
    # gRPC UNAVAILABLE (refused), or CANCELLED for a call that reached the server as it closed
    # its listeners, after the drain delay (gRPC core cancels calls it received but had not
    # yet handed to the application when shutdown starts; plain grpcio does the same).
    assert not [r for r in records if r[3] == "WRONG"], summary(records)
    bad_grpc = [
        r for r in after
        if r[2] == "grpc" and r[3] != "OK" and r[3] != "UNAVAILABLE"
        and not (r[3] == "CANCELLED" and r[1] >= signalled + DRAIN_DELAY)
    ]
    assert not bad_grpc, summary(bad_grpc)
    clean_http = {cls.__name__ for cls in HTTP_CLEAN_FAILURES} | {"OK"}
    bad_http = [r for r in after if r[2] == "http" and r[3] not in clean_http]
    assert not bad_http, summary(bad_http)

    # The drain delay kept serving new calls after the signal...
    assert any(r[3] == "OK" for r in after if r[2] == "grpc"), summary(after)
    assert any(r[3] == "OK" for r in after if r[2] == "http"), summary(after)
    # ...and once the process is gone, every call is refused.
    assert {r[2] for r in gone} == {"grpc", "http"}, summary(gone)
    assert {r[3] for r in gone if r[2] == "grpc"} == {"UNAVAILABLE"}, summary(gone)
    assert {r[3] for r in gone if r[2] == "http"} == {"ConnectError"}, summary(gone)

    assert "Traceback" not in server.output, server.output[-5000:]


# ============================================================================ 2. memory


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def _hammer(target: str, pb2: Any, pb_grpc: Any, total: int, offset: int, in_flight: int = 32) -> dict[str, int]:
    """`total` RPCs, `in_flight` at a time: mostly Echo, every 10th SyncEcho, every 500th DbAsync."""
    counts = {"Echo": 0, "SyncEcho": 0, "DbAsync": 0}
    next_index = iter(range(offset, offset + total))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.ProbeServiceControllerStub(channel)

        async def worker() -> None:
            for index in next_index:
                if index % 500 == 0:
                    name = f"mem-{index}"
                    reply = await stub.DbAsync(pb2.ProbeMessage(message=name), timeout=30)
                    assert (reply.message, reply.count) == (name, 1)
                    counts["DbAsync"] += 1
                    continue
                action = "SyncEcho" if index % 10 == 0 else "Echo"
                token = f"m{index}"
                reply = await getattr(stub, action)(pb2.ProbeMessage(message=token, count=index), timeout=30)
                assert (reply.message, reply.count) == (token, index)
                counts[action] += 1

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return counts


def test_fifty_thousand_rpcs_do_not_grow_memory(start_server, pb):
    pb2, pb_grpc = pb
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--max-workers", "8")
    pid = server.proc.pid
    warm = asyncio.run(_hammer(server.grpc_target, pb2, pb_grpc, 5_000, 0))
    assert sum(warm.values()) == 5_000
    baseline = _rss_kib(pid)
    counts = asyncio.run(_hammer(server.grpc_target, pb2, pb_grpc, 45_000, 5_000))
    assert sum(counts.values()) == 45_000 and min(counts.values()) > 0, counts
    after = _rss_kib(pid)
    growth = (after - baseline) / baseline
    print(f"server RSS: {baseline} KiB after 5,000 RPCs, {after} KiB after 50,000 ({growth:+.1%}); {counts}")
    assert growth < 0.10, f"RSS {baseline} KiB after 5,000 RPCs -> {after} KiB after 50,000 ({growth:+.1%})"
    assert server.proc.poll() is None


# ============================================================================ 3. bad input and faults


@pytest.fixture
def served(start_server, command, channel_to, pb):
    """(server, channel, stub) of `command` with 8 sync workers."""
    _, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--max-workers", "8")
    channel = channel_to(server)
    return server, channel, pb_grpc.ProbeServiceControllerStub(channel)


def _raw(channel: grpc.Channel, method: str, service: str = SERVICE) -> Any:
    """A unary call that sends bytes as they are and returns the reply's bytes."""
    return channel.unary_unary(f"/{service}/{method}")


# Both backends answer bytes that are not the expected message with INVALID_ARGUMENT and no
# internals (left alone, grpc.aio says UNKNOWN "Unexpected <class DecodeError>: ..." and the
# thread-pool server INTERNAL; the registry guards the deserializers).
DECODE_COMMANDS = ["grpcrunaioserver", "grpcrunserver"]


def _send_undecodable(served: Any, pb2: Any, body: bytes) -> None:
    """Send `body` to Echo and SyncEcho: each call ends with an error status, the server keeps
    answering; then (last, the part grpc.aio fails) the status is a proper decode error."""
    with pytest.raises(Exception):  # precondition: really not a ProbeMessage
        pb2.ProbeMessage.FromString(body)
    server, channel, stub = served
    errors = []
    for action in ("Echo", "SyncEcho"):
        with pytest.raises(grpc.RpcError) as info:
            _raw(channel, action)(body, timeout=10)
        errors.append((action, info.value.code(), info.value.details()))
    assert_still_answers(stub, pb2)
    for action, code, details in errors:
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (action, code, details)
        assert details == "request is not a valid testproject.testapp.ProbeMessage", (action, details)


@pytest.mark.parametrize("command", DECODE_COMMANDS)
def test_garbage_request_body_is_an_error_status(served, pb):
    pb2, _ = pb
    _send_undecodable(served, pb2, b"\xff\xff\xff")


@pytest.mark.parametrize("command", DECODE_COMMANDS)
def test_truncated_message_is_an_error_status(served, pb):
    pb2, _ = pb
    server, channel, stub = served
    whole = pb2.ProbeMessage(message="a message long enough to cut in half", count=3).SerializeToString()
    # The whole message through the same raw path is fine: only the cut will be wrong.
    reply = pb2.ProbeMessage.FromString(_raw(channel, "Echo")(whole, timeout=10))
    assert (reply.message, reply.count) == ("a message long enough to cut in half", 3)
    _send_undecodable(served, pb2, whole[: len(whole) // 2])


@pytest.mark.parametrize("command", DECODE_COMMANDS)
@pytest.mark.parametrize("action", ["CollectAsync", "CollectSync"])
def test_undecodable_message_in_a_request_stream(served, pb, action):
    pb2, _ = pb
    server, channel, stub = served
    call = channel.stream_unary(f"/{SERVICE}/{action}")
    good = pb2.ProbeMessage(message="a").SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        call(iter([good, b"\xff\xff\xff", good]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_still_answers(stub, pb2)


@pytest.mark.parametrize(
    ("service", "method"),
    [(SERVICE, "NoSuchMethod"), ("testproject.testapp.NoSuchController", "Echo"), ("nope", "Echo")],
    ids=["wrong-method", "wrong-service", "wrong-package"],
)
def test_wrong_path_is_unimplemented(served, pb, service, method):
    pb2, _ = pb
    server, channel, stub = served
    body = pb2.ProbeMessage(message="x").SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        _raw(channel, method, service)(body, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert_still_answers(stub, pb2)


HUNDRED_MB = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def hundred_mb_message() -> bytes:
    """A serialized ProbeMessage whose `message` is 100 MiB (field 1, wire type 2)."""
    length, prefix = HUNDRED_MB, bytearray(b"\x0a")
    while True:
        byte, length = length & 0x7F, length >> 7
        prefix.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes(prefix) + b"x" * HUNDRED_MB


def test_hundred_megabyte_message_is_resource_exhausted(served, pb, hundred_mb_message):
    pb2, _ = pb
    server, _, stub = served
    with grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", -1)]) as big:
        for action in ("Echo", "SyncEcho"):
            with pytest.raises(grpc.RpcError) as info:
                _raw(big, action)(hundred_mb_message, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value
        # The same channel still works for a normal-sized call.
        reply = pb2.ProbeMessage.FromString(_raw(big, "Echo")(pb2.ProbeMessage(message="small").SerializeToString(), timeout=10))
        assert reply.message == "small"
    assert_still_answers(stub, pb2)


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
@pytest.mark.parametrize("how", ["cancel", "close-channel"])
def test_client_gone_mid_stream_releases_the_server(served, pb, action, how):
    """8 streams of ~10 s each (as many as there are workers) abandoned after 3 items.

    If the server kept producing for a gone client, every sync worker would stay busy for
    ~10 s and 8 concurrent SyncSleep(0.3) afterwards could not finish in 4 s.
    """
    pb2, _ = pb
    server, _, stub = served
    for round_ in range(8):
        channel = grpc.insecure_channel(server.grpc_target)
        streamer = channel.unary_stream(f"/{SERVICE}/{action}", response_deserializer=pb2.ProbeMessage.FromString)
        stream = streamer(pb2.ProbeMessage(message="s", count=1000, seconds=0.01).SerializeToString(), timeout=30)
        assert [next(stream).count for _ in range(3)] == [0, 1, 2]
        if how == "cancel":
            assert stream.cancel()
            with pytest.raises(grpc.RpcError) as info:
                next(stream)
            assert info.value.code() == grpc.StatusCode.CANCELLED
        channel.close()
    assert_still_answers(stub, pb2)
    time.sleep(0.5)  # the server notices the cancellations (it polls at most every 0.2 s)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: stub.SyncSleep(pb2.ProbeMessage(seconds=0.3), timeout=20), range(8)))
    elapsed = time.monotonic() - started
    assert [r.message for r in replies] == ["slept"] * 8
    assert elapsed < 4.0, f"8 x SyncSleep(0.3) on 8 workers took {elapsed:.1f}s: abandoned streams still hold workers"
    assert "Traceback" not in server.output, server.output[-5000:]


@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
def test_action_that_raises_is_unknown_with_class_name_only(served, pb, action):
    pb2, _ = pb
    server, _, stub = served
    with pytest.raises(grpc.RpcError) as info:
        getattr(stub, action)(pb2.ProbeMessage(message="other"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNKNOWN
    assert info.value.details() == "ValueError"
    assert_still_answers(stub, pb2)


def test_hanging_actions_hit_their_deadline_and_block_nothing(served, pb):
    pb2, _ = pb
    server, _, stub = served
    for action, seconds in (("AsyncSleep", 30.0), ("SyncSleep", 2.0)):
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            getattr(stub, action)(pb2.ProbeMessage(seconds=seconds), timeout=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (action, info.value)
        assert time.monotonic() - started < seconds, action
    # While calls hang, other calls are answered. 3 + 3 of the 8 workers: the thread-pool
    # backend holds a worker for an `async def` action too.
    hanging = [stub.AsyncSleep.future(pb2.ProbeMessage(seconds=30), timeout=3) for _ in range(3)]
    hanging += [stub.SyncSleep.future(pb2.ProbeMessage(seconds=1.5), timeout=5) for _ in range(3)]
    time.sleep(0.3)
    for round_ in range(5):
        assert_still_answers(stub, pb2, f"meanwhile{round_}")
    assert not any(call.done() for call in hanging), "hanging calls ended early"
    for call in hanging[:3]:
        with pytest.raises(grpc.RpcError) as info:
            call.result()
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert all(call.result().message == "slept" for call in hanging[3:])
    assert_still_answers(stub, pb2, "after")


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_stream_that_fails_after_yielding_delivers_then_fails(served, pb, action):
    pb2, _ = pb
    server, _, stub = served
    received = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in getattr(stub, action)(pb2.ProbeMessage(message="fail", count=2), timeout=10):
            received.append(reply.message)
    assert received == ["fail0", "fail1"]
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "stream failed")
    assert_still_answers(stub, pb2)


# ============================================================================ 4. grpc_action declarations

FIELD = st.fixed_dictionaries({"name": st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), "type": st.sampled_from(["string", "int32", "bool"])})
VALID_SPEC = st.one_of(st.lists(FIELD, max_size=3), st.sampled_from(["google.protobuf.Empty", "Other", "pkg.Message"]))
INVALID_SPEC = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.binary(max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.tuples(FIELD), st.frozensets(st.integers(), max_size=2),
)


@hypothesis_settings(max_examples=30, deadline=None, database=None)
@given(request=st.one_of(st.none(), VALID_SPEC), response=st.one_of(st.none(), VALID_SPEC),
       request_stream=st.sampled_from([False, True, 0, 1, "", "yes", None]), response_stream=st.sampled_from([False, True, 0, 1]))
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

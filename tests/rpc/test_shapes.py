"""Every action shape x backend x `def`/`async def`, through a real server and channel, and
where each kind of action runs."""
from __future__ import annotations

import pytest

TIMEOUT = 10


def test_unary(client, msg, backend):
    reply = client("test.Shapes", "Unary")(msg(), timeout=TIMEOUT)
    # aio: awaited on the serving loop; threads: on the bridge loop.
    assert reply.count == 1
    assert reply.message == ("hybrid-live-server" if backend == "aio" else "grpc-bridge-loop")


def test_sync_unary(client, msg):
    reply = client("test.Shapes", "SyncUnary")(msg(), timeout=TIMEOUT)
    assert reply.count == 0  # a worker thread, no loop
    assert reply.message.startswith("grpc-worker")  # the engine's pool (aio) or grpc's (threads)


@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
def test_server_stream(client, msg, method, backend):
    replies = list(client("test.Shapes", method)(msg(count=4), timeout=TIMEOUT))
    assert [reply.count for reply in replies] == [0, 1, 2, 3]
    threads = {reply.message for reply in replies}
    assert len(threads) == 1  # the whole stream in one thread (or loop)
    if method == "SyncServerStream":
        assert threads.pop().startswith("grpc-worker")
    else:
        assert threads.pop() == ("hybrid-live-server" if backend == "aio" else "grpc-bridge-loop")


@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
def test_empty_server_stream(client, msg, method):
    assert list(client("test.Shapes", method)(msg(count=0), timeout=TIMEOUT)) == []


@pytest.mark.parametrize("method", ["ClientStream", "SyncClientStream"])
def test_client_stream(client, msg, method):
    reply = client("test.Shapes", method)(iter([msg(message=part) for part in "abc"]), timeout=TIMEOUT)
    assert (reply.message, reply.count) == ("abc", 3)
    assert client("test.Shapes", method)(iter([]), timeout=TIMEOUT).count == 0


@pytest.mark.parametrize("method", ["Bidi", "SyncBidi"])
def test_bidi(client, msg, method):
    replies = list(client("test.Shapes", method)(iter([msg(message=p, count=i) for i, p in enumerate("xyz")]), timeout=TIMEOUT))
    assert [(r.message, r.count) for r in replies] == [("X", 0), ("Y", 1), ("Z", 2)]


@pytest.mark.parametrize("method", ["Bidi", "SyncBidi"])
def test_bidi_answers_each_message_before_the_next_is_sent(client, msg, method):
    """A real conversation: the client sends the next message only after the previous answer."""
    import queue

    answered: queue.SimpleQueue = queue.SimpleQueue()

    def requests():
        for index in range(3):
            if index:
                assert answered.get(timeout=TIMEOUT) == index - 1
            yield msg(message="m", count=index)

    seen = []
    for reply in client("test.Shapes", method)(requests(), timeout=TIMEOUT):
        seen.append(reply.count)
        answered.put(reply.count)
    assert seen == [0, 1, 2]


def test_generated_servicer_shapes(live, pb):
    """The test project's ProbeService through its generated code (add_XServicer_to_server)."""
    pb2, pb2_grpc = pb
    stub = pb2_grpc.ProbeServiceControllerStub(live.channel())
    assert stub.Echo(pb2.ProbeMessage(message="a"), timeout=TIMEOUT).thread == "before:Echo"
    assert stub.SyncEcho(pb2.ProbeMessage(message="b"), timeout=TIMEOUT).thread == "before:SyncEcho"
    assert [r.count for r in stub.StreamAsync(pb2.ProbeMessage(message="s", count=2), timeout=TIMEOUT)] == [0, 1]
    assert [r.count for r in stub.StreamSync(pb2.ProbeMessage(message="s", count=2), timeout=TIMEOUT)] == [0, 1]
    parts = [pb2.ProbeMessage(message=p) for p in "ab"]
    assert stub.CollectAsync(iter(parts), timeout=TIMEOUT).message == "ab"
    assert stub.CollectSync(iter(parts), timeout=TIMEOUT).message == "ab"
    assert [r.message for r in stub.BidiAsync(iter(parts), timeout=TIMEOUT)] == ["A", "B"]
    assert [r.message for r in stub.BidiSync(iter(parts), timeout=TIMEOUT)] == ["A", "B"]


def test_def_action_sees_metadata_and_peer(client, msg):
    reply = client("test.Shapes", "Metadata")(msg(), metadata=(("x-probe", "hello"),), timeout=TIMEOUT)
    assert (reply.message, reply.count) == ("hello", 1)


def test_async_orm_work_borrows_one_thread_per_rpc(client, msg, backend):
    """close_old_connections_middleware reads the pool per call from `call.runtime`: the aio
    backend lends its worker pool; the thread-pool backend gives the RPC a thread of its own."""
    reply = client("test.Shapes", "OrmThread")(msg(), timeout=TIMEOUT)
    assert reply.count == 1  # both thread-sensitive calls on one thread
    assert reply.message.startswith("grpc-worker" if backend == "aio" else "grpc-rpc")

"""The gRPC server end to end: real commands in subprocesses, real stubs over loopback.

Every test runs against both commands; they differ only in the gRPC backend.
"""
from __future__ import annotations

import concurrent.futures
import signal
import time

import grpc
import pytest

from tests.procs import port_is_open

COMMANDS = ["grpcrunaioserver", "grpcrunserver"]


@pytest.fixture(params=COMMANDS)
def command(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(start_server, command):
    return start_server(command, "127.0.0.1:0", "--max-workers", "8")


@pytest.fixture
def stub(server, channel_to, pb):
    _, pb_grpc = pb
    return pb_grpc.ProbeServiceControllerStub(channel_to(server))


def test_banner_names_the_bound_port(server):
    assert server.grpc_port and server.grpc_port > 0
    assert f"gRPC server listening on 127.0.0.1:{server.grpc_port}" in server.output
    assert "testproject.testapp.ProbeServiceController" in server.output


@pytest.mark.parametrize("action", ["Echo", "SyncEcho"])
def test_unary_runs_hooks_and_action(stub, pb, action):
    pb2, _ = pb
    reply = getattr(stub, action)(pb2.ProbeMessage(message="hi", count=3), timeout=10)
    assert (reply.message, reply.count) == ("hi", 3)
    assert reply.thread == f"before:{action}"  # set by before_action on the per-RPC instance


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_server_streaming(stub, pb, action):
    pb2, _ = pb
    replies = list(getattr(stub, action)(pb2.ProbeMessage(message="m", count=4), timeout=10))
    assert [r.message for r in replies] == ["m0", "m1", "m2", "m3"]


def test_sync_stream_runs_in_one_worker_thread(stub, pb):
    pb2, _ = pb
    replies = list(stub.StreamSync(pb2.ProbeMessage(message="m", count=5), timeout=10))
    assert len({r.thread for r in replies}) == 1


@pytest.mark.parametrize("action", ["CollectAsync", "CollectSync"])
def test_client_streaming(stub, pb, action):
    pb2, _ = pb
    requests = iter([pb2.ProbeMessage(message=part) for part in ("a", "b", "c")])
    reply = getattr(stub, action)(requests, timeout=10)
    assert (reply.message, reply.count) == ("abc", 3)


@pytest.mark.parametrize("action", ["BidiAsync", "BidiSync"])
def test_bidirectional_streaming(stub, pb, action):
    pb2, _ = pb
    requests = iter([pb2.ProbeMessage(message=part, count=i) for i, part in enumerate(("x", "y"))])
    replies = list(getattr(stub, action)(requests, timeout=10))
    assert [(r.message, r.count) for r in replies] == [("X", 0), ("Y", 1)]


ERRORS = [
    ("not_found", grpc.StatusCode.NOT_FOUND, "no such thing"),
    ("invalid", grpc.StatusCode.INVALID_ARGUMENT, "bad argument"),
    ("permission", grpc.StatusCode.PERMISSION_DENIED, None),
    ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, None),
    ("already_exist", grpc.StatusCode.ALREADY_EXISTS, None),
    ("unimplemented", grpc.StatusCode.UNIMPLEMENTED, None),
    ("does_not_exist", grpc.StatusCode.NOT_FOUND, "Item matching query does not exist."),
    ("http404", grpc.StatusCode.NOT_FOUND, "nothing here"),
    ("validation", grpc.StatusCode.INVALID_ARGUMENT, "name: This field is required."),
    ("django_permission", grpc.StatusCode.PERMISSION_DENIED, "not yours"),
    ("abort", grpc.StatusCode.FAILED_PRECONDITION, "aborted by action"),
    ("other", grpc.StatusCode.UNKNOWN, "ValueError"),
    ("import_error", grpc.StatusCode.UNKNOWN, "ModuleNotFoundError"),
]


@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
def test_errors_map_to_status_codes(stub, pb, server, action):
    pb2, _ = pb
    for kind, code, details in ERRORS:
        with pytest.raises(grpc.RpcError) as info:
            getattr(stub, action)(pb2.ProbeMessage(message=kind), timeout=10)
        assert info.value.code() == code, (kind, info.value)
        if details is not None:
            assert info.value.details() == details, kind
    # Outside DEBUG the client never sees internals; the server log has the traceback.
    assert "secret internals" not in str(info.value.details())
    server.wait_for("secret internals")
    server.wait_for("Traceback")


@pytest.mark.parametrize("action", ["StreamAsync", "StreamSync"])
def test_failing_stream_delivers_what_it_yielded(stub, pb, action):
    pb2, _ = pb
    received = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in getattr(stub, action)(pb2.ProbeMessage(message="fail", count=3), timeout=10):
            received.append(reply.count)
    assert received == [0, 1, 2]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "stream failed"


@pytest.mark.parametrize("action", ["DbAsync", "DbSync"])
def test_orm_from_actions(stub, pb, action, command):
    pb2, _ = pb
    name = f"{action}-{command}-{time.monotonic_ns()}"
    assert getattr(stub, action)(pb2.ProbeMessage(message=name), timeout=10).count == 1
    assert getattr(stub, action)(pb2.ProbeMessage(message=name), timeout=10).count == 2


def test_generic_service_and_not_found(server, channel_to, pb):
    pb2, pb_grpc = pb
    stub = pb_grpc.ItemControllerStub(channel_to(server))
    with pytest.raises(grpc.RpcError) as info:
        stub.Retrieve(pb2.ItemRetrieveRequest(id=987654), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_method_is_unimplemented(server, channel_to):
    call = channel_to(server).unary_unary("/testproject.testapp.ProbeServiceController/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as info:
        call(b"", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_blocking_sync_actions_run_in_parallel(stub, pb):
    """Eight 0.5 s blocking `def` actions with --max-workers 8 overlap (serial would take 4 s)."""
    pb2, _ = pb
    stub.SyncEcho(pb2.ProbeMessage(message="warm"), timeout=10)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: stub.SyncSleep(pb2.ProbeMessage(seconds=0.5), timeout=10), range(8)))
    elapsed = time.monotonic() - started
    assert len({reply.thread for reply in replies}) == 8
    assert elapsed < 2.0, elapsed


def test_max_workers_bounds_concurrency(start_server, command, channel_to, pb):
    """With 2 workers, 3 calls of 0.5 s need two rounds."""
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", "--max-workers", "2")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    stub.SyncEcho(pb2.ProbeMessage(message="warm"), timeout=10)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: stub.SyncSleep(pb2.ProbeMessage(seconds=0.5), timeout=10), range(3)))
    assert time.monotonic() - started >= 0.95


def test_busy_port_fails_loudly(start_server, command, server):
    second = start_server(command, f"127.0.0.1:{server.grpc_port}", ready=False)
    assert second.wait(30) == 1
    assert f"cannot bind gRPC to 127.0.0.1:{server.grpc_port}" in second.output
    assert "Traceback" not in second.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_lets_in_flight_calls_finish(server, stub, pb, signum):
    pb2, _ = pb
    future = stub.AsyncSleep.future(pb2.ProbeMessage(seconds=1.0), timeout=15)
    time.sleep(0.3)
    server.signal(signum)
    assert future.result().message == "slept"
    assert server.wait(15) == 0
    assert not port_is_open(server.grpc_port)


def test_hook_can_be_async(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", env={"TESTPROJECT_HOOK": "testproject.handlers.async_grpc_handlers"})
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    assert stub.Echo(pb2.ProbeMessage(message="a"), timeout=10).message == "a"


def test_broken_hook_exits_with_a_clear_error(start_server, command):
    server = start_server(command, "127.0.0.1:0", ready=False, env={"TESTPROJECT_HOOK": "testproject.handlers.broken_handlers"})
    assert server.wait(30) == 1
    assert "NoSuchService" in server.output
    assert "no module 'testapp.services.no_such_service'" in server.output


def test_wrong_hook_path_names_the_setting(start_server, command):
    server = start_server(command, "127.0.0.1:0", ready=False, env={"TESTPROJECT_HOOK": "testproject.nowhere.hook"})
    assert server.wait(30) == 1
    assert "ROOT_HANDLERS_HOOK" in server.output and "testproject.nowhere.hook" in server.output


def test_access_log(start_server, command, channel_to, pb):
    pb2, pb_grpc = pb
    server = start_server(command, "127.0.0.1:0", env={"TESTPROJECT_LOG_OK": "1"})
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    stub.Echo(pb2.ProbeMessage(message="a"), timeout=10)
    with pytest.raises(grpc.RpcError):
        stub.Fail(pb2.ProbeMessage(message="not_found"), timeout=10)
    stub.SyncEcho(pb2.ProbeMessage(message="ignored"), timeout=10)
    assert len(list(stub.StreamAsync(pb2.ProbeMessage(message="s", count=2), timeout=10))) == 2
    with pytest.raises(grpc.RpcError):
        list(stub.StreamSync(pb2.ProbeMessage(message="fail", count=2), timeout=10))
    server.wait_for(r"gRPC ProbeServiceController\.StreamAsync OK \d+\.\dms")
    server.wait_for(r"gRPC ProbeServiceController\.StreamSync INVALID_ARGUMENT \d+\.\dms .*\(InvalidArgument\)")
    server.wait_for(r"gRPC ProbeServiceController\.Echo OK \d+\.\dms peer=ipv4:127\.0\.0\.1:\d+")
    server.wait_for(r"gRPC ProbeServiceController\.Fail NOT_FOUND \d+\.\dms peer=ipv4:127\.0\.0\.1:\d+ \(NotFound\)")
    assert "ProbeServiceController.SyncEcho" not in server.output  # IGNORE_LOG_FOR_ACTION


def test_async_orm_calls_share_one_pool_thread(stub, pb, command):
    pb2, _ = pb
    reply = stub.OrmThreads(pb2.ProbeMessage(), timeout=10)
    assert reply.message == reply.thread  # every thread-sensitive call of one RPC on one thread
    if command == "grpcrunaioserver":
        assert reply.message.startswith("grpc-worker")  # borrowed from the --max-workers pool


def test_async_orm_work_is_bounded_by_max_workers(start_server, channel_to, pb):
    """aio server, --max-workers 2: four async RPCs blocking 0.5 s in ORM-side code take two rounds."""
    pb2, pb_grpc = pb
    server = start_server("grpcrunaioserver", "127.0.0.1:0", "--max-workers", "2")
    stub = pb_grpc.ProbeServiceControllerStub(channel_to(server))
    stub.OrmThreads(pb2.ProbeMessage(), timeout=10)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: stub.OrmThreads(pb2.ProbeMessage(seconds=0.5), timeout=10), range(4)))
    assert time.monotonic() - started >= 0.95
    assert {r.message for r in replies} <= {"grpc-worker_0", "grpc-worker_1"}

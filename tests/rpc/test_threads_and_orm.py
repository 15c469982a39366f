"""Threads and the ORM in-process: actions use the database, blocking `def` actions run in
parallel up to --max-workers, async ORM work stays in that pool, and the hook's start-up errors.

The ORM tests use the pytest plugin's server (`hybrid_server`, one per backend for the module,
`grpc_stub`), which shares the test's in-memory SQLite connection with the server's threads, and
pytest-django's `transactional_db`. (One RPC's async ORM calls sharing one thread is
tested in test_shapes.py; unknown methods in test_faults.py.)
"""
from __future__ import annotations

import concurrent.futures

import anyio
import grpc
import pytest
from django.conf import settings
from django.test import override_settings

from hybrid_server import EXIT_FAILURE, Options
from hybrid_server.server import HybridServer
from hybrid_server.testing import LiveServer
from tests.engine.support import DEADLINE, Gate, finish, hold

BACKENDS = ["aio", "threads"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module", params=BACKENDS)
def hybrid_server_options(request, pb):
    """The plugin's `hybrid_server` for the ORM tests: one per backend; each test gets a fresh database."""
    return {"backend": request.param, "max_workers": 4, "http_address": None}


@pytest.fixture
def stub(grpc_stub, pb):
    return grpc_stub(pb[1].ProbeServiceControllerStub)


@pytest.fixture
def gate(tmp_path):
    return Gate(tmp_path / "release")


def _parallel(count: int, call):
    """Run `call(index)` from `count` client threads at once; returns the results in order."""
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


# --------------------------------------------------------------------------- the ORM


@pytest.mark.parametrize("action", ["DbAsync", "DbSync"])
def test_orm_from_actions(transactional_db, stub, pb, action):
    from testapp.models import Item

    pb2, _ = pb
    assert getattr(stub, action)(pb2.ProbeMessage(message="thing"), timeout=DEADLINE).count == 1
    assert getattr(stub, action)(pb2.ProbeMessage(message="thing"), timeout=DEADLINE).count == 2
    assert Item.objects.filter(name="thing").count() == 2  # the server's writes, seen by the test


def test_generic_service_retrieves_and_not_found(transactional_db, grpc_stub, pb):
    from testapp.models import Item

    pb2, pb_grpc = pb
    stub = grpc_stub(pb_grpc.ItemControllerStub)
    item = Item.objects.create(name="kept")  # the test's write, seen by the server
    reply = stub.Retrieve(pb2.ItemRetrieveRequest(id=item.id), timeout=DEADLINE)
    assert (reply.id, reply.name) == (item.id, "kept")
    with pytest.raises(grpc.RpcError) as info:
        stub.Retrieve(pb2.ItemRetrieveRequest(id=item.id + 1000), timeout=DEADLINE)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_async_orm_work_is_bounded_by_max_workers(transactional_db, pb):
    """aio server, max_workers 2: concurrent async RPCs run their ORM-side code in that pool."""
    pb2, pb_grpc = pb
    with LiveServer(backend="aio", max_workers=2) as server:
        stub = pb_grpc.ProbeServiceControllerStub(server.channel())
        replies = _parallel(4, lambda _: stub.OrmThreads(pb2.ProbeMessage(seconds=0.2), timeout=DEADLINE))
    assert {r.message for r in replies} | {r.thread for r in replies} <= {"grpc-worker_0", "grpc-worker_1"}
    assert all(r.message == r.thread for r in replies)


# --------------------------------------------------------------------------- threads


def _streams_may_take_every_worker(workers: int):
    """Holds are streaming `def` actions, which MAX_STREAM_WORKERS (default: half) limits."""
    return override_settings(GRPC_FRAMEWORK={**settings.GRPC_FRAMEWORK, "MAX_STREAM_WORKERS": workers})


def test_blocking_sync_actions_run_in_parallel(backend, gate, pb):
    """Eight blocking `def` actions with max_workers 8 all run at once: each reports it started
    while none of them has been released."""
    pb2, pb_grpc = pb
    with _streams_may_take_every_worker(8), LiveServer(backend=backend, max_workers=8) as server:
        stub = pb_grpc.ProbeServiceControllerStub(server.channel())
        holds = _parallel(8, lambda _: hold(stub, "HoldSync", gate, pb2))
        assert max(started.count for _, started in holds) == 8
        assert len({started.thread for _, started in holds}) == 8
        gate.release()
        assert [finish(call) for call, _ in holds] == [["released"]] * 8


def test_max_workers_bounds_concurrency(backend, gate, pb):
    """With 2 workers, a third blocking `def` action waits for a free worker."""
    pb2, pb_grpc = pb
    with _streams_may_take_every_worker(2), LiveServer(backend=backend, max_workers=2) as server:
        stub = pb_grpc.ProbeServiceControllerStub(server.channel())
        first = [hold(stub, "HoldSync", gate, pb2) for _ in range(2)]
        third = stub.HoldSync(gate.request(pb2), timeout=DEADLINE)  # queued: no worker is free
        gate.release()
        started = next(third)
        assert [finish(call) for call, _ in first] == [["released"], ["released"]]
        assert finish(third) == ["released"]
    assert started.message == "started"
    assert started.count <= 2, "the third action ran while both workers were busy"
    assert {s.thread for _, s in first} | {started.thread} == {"grpc-worker_0", "grpc-worker_1"}


# --------------------------------------------------------------------------- the hook


def test_hook_can_be_async(backend, pb):
    pb2, pb_grpc = pb
    with LiveServer(backend=backend, handlers_hook="testproject.handlers.async_grpc_handlers") as server:
        stub = pb_grpc.ProbeServiceControllerStub(server.channel())
        assert stub.Echo(pb2.ProbeMessage(message="a"), timeout=DEADLINE).message == "a"
        assert "testproject.testapp.ProbeServiceController" in server.server.grpc.services


def _failed_start(capsys, **options) -> tuple[int, str]:
    """A HybridServer in this thread that must fail in start-up: (exit code, stderr)."""
    server = HybridServer(Options(grpc_address="127.0.0.1:0", banner=False, grace=1.0).replace(**options),
                          install_signal_handlers=False)

    async def serve():
        with anyio.fail_after(DEADLINE):  # one that serves after all fails the test here
            return await server.serve()

    return anyio.run(serve, backend="asyncio"), capsys.readouterr().err


def test_broken_hook_is_a_clear_startup_error(backend, pb, capsys):
    code, err = _failed_start(capsys, backend=backend, handlers_hook="testproject.handlers.broken_handlers")
    assert code == EXIT_FAILURE
    last = err.splitlines()[-1]
    assert last.startswith("Error: ROOT_HANDLERS_HOOK testproject.handlers.broken_handlers failed: RegistrationError: ")
    assert "NoSuchService" in last and "no module 'testapp.services.no_such_service'" in last


def test_wrong_hook_path_names_the_setting(backend, pb, capsys):
    code, err = _failed_start(capsys, backend=backend, handlers_hook="testproject.nowhere.hook")
    assert code == EXIT_FAILURE
    assert err.splitlines()[-1].startswith("Error: ROOT_HANDLERS_HOOK: cannot import 'testproject.nowhere.hook'")

"""The pytest plugin's fixtures (`hybrid_server`, `grpc_channel`, `grpc_stub`, `hybrid_http`) on
both backends: every shape, the interceptor and middleware, pytest-django's `db` (the test's
transaction, rolled back) and `transactional_db`, async tests, failures that explain themselves.
(The plugin's report hook and a whole project using it: test_new_project.py.)"""
from __future__ import annotations

from typing import Any

import grpc
import pytest
from django.db import connections

from hybrid_server.testing import LiveServer
from hybrid_server.testing.database import _SharedStorage
from tests.testing import support

PROBE = "/testproject.testapp.ProbeServiceController"


@pytest.fixture(scope="module", params=["aio", "threads"])
def hybrid_server_options(request: pytest.FixtureRequest, pb: Any) -> dict[str, Any]:
    interceptor = support.RecordingInterceptor() if request.param == "aio" else support.SyncRecordingInterceptor()
    return {"backend": request.param, "interceptors": [interceptor]}


@pytest.fixture(autouse=True, scope="module")
def middleware() -> Any:
    """GRPC_MIDDLEWARE is read when the servicers are bound: before the module's server starts."""
    from django.conf import settings
    from django.test import override_settings

    with override_settings(GRPC_FRAMEWORK={**settings.GRPC_FRAMEWORK, "GRPC_MIDDLEWARE": support.MIDDLEWARE}):
        yield


@pytest.fixture(autouse=True)
def seen() -> None:
    support.SEEN.clear()


def test_server_and_channel(hybrid_server: LiveServer, grpc_channel: grpc.Channel, hybrid_http: Any, pb: Any) -> None:
    pb2, pb_grpc = pb
    assert hybrid_server.grpc_target.startswith("127.0.0.1:") and hybrid_server.http_url.startswith("http://127.0.0.1:")
    assert pb_grpc.ProbeServiceControllerStub(grpc_channel).Echo(pb2.ProbeMessage(message="m"), timeout=10).message == "m"
    assert hybrid_http.get("/hello/").text == "hello from django"
    with pytest.raises(grpc.RpcError) as caught:  # LiveServer.stub(): explained too
        hybrid_server.stub(pb_grpc.ProbeServiceControllerStub).Fail(pb2.ProbeMessage(message="crash"), timeout=10)
    assert "ValueError: secret internals" in "\n".join(caught.value.__notes__)


def test_every_shape_with_interceptor_and_middleware(grpc_stub: Any, pb: Any) -> None:
    pb2, pb_grpc = pb
    stub = grpc_stub(pb_grpc.ProbeServiceControllerStub)
    reply, call = stub.SyncEcho.with_call(pb2.ProbeMessage(message="x"), timeout=10)
    assert reply.message == "x" and support.trailer(call) == "SyncEcho"
    stream = stub.StreamAsync(pb2.ProbeMessage(message="s", count=2), timeout=10)
    assert [r.message for r in stream] == ["s0", "s1"] and support.trailer(stream) == "StreamAsync"
    requests = [pb2.ProbeMessage(message=part) for part in "ab"]
    assert stub.CollectSync(iter(requests), timeout=10).count == 2
    assert [r.message for r in stub.BidiAsync(iter(requests), timeout=10)] == ["A", "B"]
    assert support.SEEN == [f"{PROBE}/{name}" for name in ("SyncEcho", "StreamAsync", "CollectSync", "BidiAsync")]


def test_db_rows_in_the_tests_transaction(db: None, grpc_stub: Any, pb: Any) -> None:
    """`db`: the test's transaction, shared with the server (in-memory SQLite)."""
    from testapp.models import Item

    pb2, pb_grpc = pb
    assert isinstance(connections._connections, _SharedStorage)
    item = Item.objects.create(name="uncommitted")
    assert grpc_stub(pb_grpc.ItemControllerStub).Retrieve(pb2.ItemRetrieveRequest(id=item.id), timeout=10).name == "uncommitted"
    probe = grpc_stub(pb_grpc.ProbeServiceControllerStub)
    assert probe.DbAsync(pb2.ProbeMessage(message="by-rpc"), timeout=10).count == 1
    assert probe.DbSync(pb2.ProbeMessage(message="by-rpc"), timeout=10).count == 2
    assert Item.objects.filter(name="by-rpc").count() == 2


def test_db_rows_were_rolled_back(db: None, grpc_stub: Any, pb: Any) -> None:
    from testapp.models import Item

    pb2, pb_grpc = pb
    assert not Item.objects.exists()  # the previous test's rows, its RPCs' rows included, are gone
    assert grpc_stub(pb_grpc.ProbeServiceControllerStub).DbSync(pb2.ProbeMessage(message="n"), timeout=10).count == 1


def test_transactional_db(transactional_db: None, grpc_stub: Any, pb: Any) -> None:
    from testapp.models import Item

    pb2, pb_grpc = pb
    item = Item.objects.create(name="committed")
    assert grpc_stub(pb_grpc.ItemControllerStub).Retrieve(pb2.ItemRetrieveRequest(id=item.id), timeout=10).name == "committed"


def test_failed_call_explains_itself(grpc_stub: Any, pb: Any) -> None:
    pb2, pb_grpc = pb
    stub = grpc_stub(pb_grpc.ProbeServiceControllerStub)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.StreamSync(pb2.ProbeMessage(message="fail", count=1), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        stub.Fail(pb2.ProbeMessage(message="crash"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    note = "\n".join(caught.value.__notes__)
    assert "ValueError: secret internals" in note and "Traceback" in note
    assert "StreamSync" not in note  # only what the server logged during this call


def test_no_database_access_is_explained_too(grpc_stub: Any, pb: Any) -> None:
    """Without a db fixture the server's ORM work fails as pytest-django says; the error says so."""
    pb2, pb_grpc = pb
    with pytest.raises(grpc.RpcError) as caught:
        grpc_stub(pb_grpc.ProbeServiceControllerStub).DbSync(pb2.ProbeMessage(message="x"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert "Database access not allowed" in "\n".join(caught.value.__notes__)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_test_gets_aio_stubs(anyio_backend: str, grpc_stub: Any, pb: Any) -> None:
    pb2, pb_grpc = pb
    stub = grpc_stub(pb_grpc.ProbeServiceControllerStub)
    assert (await stub.Echo(pb2.ProbeMessage(message="a"), timeout=10)).message == "a"
    call = stub.CollectAsync(timeout=10)
    for part in "xyz":
        await call.write(pb2.ProbeMessage(message=part))
    await call.done_writing()
    assert (await call).message == "xyz"
    with pytest.raises(grpc.RpcError) as caught:
        await stub.Fail(pb2.ProbeMessage(message="crash"), timeout=10)
    assert "ValueError: secret internals" in "\n".join(caught.value.__notes__)


def test_a_test_without_the_fixtures_is_untouched() -> None:
    assert not isinstance(connections._connections, _SharedStorage)

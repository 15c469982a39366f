"""`HybridTestCase`: the project's services and Django app served for a test class, every shape
of call through grpc with its interceptor and middleware, ORM rows shared with the test, failures
that carry the server's traceback, and nothing left running after the class."""
from __future__ import annotations

import os
import socket
import sys
import threading
import unittest

import grpc
import pytest
from django.db import connections
from django.test import override_settings

from hybrid_server import State
from hybrid_server import testing as hybrid_testing
from hybrid_server.testing.database import _SharedStorage
from tests.testing import support

FRAMEWORK = {
    "ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers",
    "SERVER_INTERCEPTORS": ["tests.testing.support.RecordingInterceptor"],
    "GRPC_MIDDLEWARE": support.MIDDLEWARE,
}
PROBE = "/testproject.testapp.ProbeServiceController"


def _pb():
    from testapp.grpc import testapp_pb2, testapp_pb2_grpc

    return testapp_pb2, testapp_pb2_grpc


@pytest.mark.usefixtures("pb")
@override_settings(GRPC_FRAMEWORK=FRAMEWORK)
class ServedProjectTests(hybrid_testing.HybridTestCase):
    def setUp(self):
        support.SEEN.clear()

    def test_every_shape_through_interceptor_and_middleware(self):
        pb2, pb_grpc = _pb()
        stub = self.stub(pb_grpc.ProbeServiceControllerStub)
        reply, call = stub.Echo.with_call(pb2.ProbeMessage(message="hi"), timeout=10)
        assert reply.message == "hi"
        assert support.trailer(call) == "Echo"
        assert [r.message for r in stub.StreamSync(pb2.ProbeMessage(message="s", count=3), timeout=10)] == ["s0", "s1", "s2"]
        requests = [pb2.ProbeMessage(message=part) for part in "abc"]
        assert stub.CollectAsync(iter(requests), timeout=10).message == "abc"
        assert [r.message for r in stub.BidiSync(iter(requests), timeout=10)] == ["A", "B", "C"]
        assert support.SEEN == [f"{PROBE}/{name}" for name in ("Echo", "StreamSync", "CollectAsync", "BidiSync")]

    def test_rows_of_the_test_and_of_the_server(self):
        from testapp.models import Item

        pb2, pb_grpc = _pb()
        item = Item.objects.create(name="kept")
        stub = self.stub(pb_grpc.ItemControllerStub)
        assert stub.Retrieve(pb2.ItemRetrieveRequest(id=item.id), timeout=10).name == "kept"
        probe = self.stub(pb_grpc.ProbeServiceControllerStub)
        assert probe.DbSync(pb2.ProbeMessage(message="written"), timeout=10).count == 1
        assert Item.objects.filter(name="written").count() == 1

    def test_http_side(self):
        assert self.live_server_url == self.live_server.http_url
        assert self.live_server_url.startswith("http://127.0.0.1:")
        page = self.http.get("/hello/")
        assert (page.status_code, page.text) == (200, "hello from django")
        assert self.grpc_target == self.live_server.grpc_target

    def test_failed_call_carries_the_server_traceback(self):
        pb2, pb_grpc = _pb()
        stub = self.stub(pb_grpc.ProbeServiceControllerStub)
        with self.assertRaises(grpc.RpcError) as caught:
            stub.SyncFail(pb2.ProbeMessage(message="crash"), timeout=10)
        error = caught.exception
        assert error.code() == grpc.StatusCode.UNKNOWN
        note = "\n".join(error.__notes__)
        assert "The client saw status UNKNOWN, details 'ValueError'." in note
        assert "Traceback (most recent call last):" in note
        assert 'probe_service.py", line' in note and "ValueError: secret internals" in note

    async def test_async_test_gets_aio_stubs(self):
        pb2, pb_grpc = _pb()
        stub = self.stub(pb_grpc.ProbeServiceControllerStub)
        call = stub.Echo(pb2.ProbeMessage(message="aio"), timeout=10)
        assert (await call).message == "aio"
        assert dict(await call.trailing_metadata())["x-middleware"] == "Echo"
        assert [r.count async for r in stub.StreamAsync(pb2.ProbeMessage(count=2), timeout=10)] == [0, 1]
        bidi = stub.BidiAsync(timeout=10)
        await bidi.write(pb2.ProbeMessage(message="x"))
        assert (await bidi.read()).message == "X"
        await bidi.done_writing()
        assert await bidi.read() is grpc.aio.EOF
        with self.assertRaises(grpc.RpcError) as caught:
            await stub.Echo(pb2.ProbeMessage(), metadata=(("x-block", "1"),), timeout=10)
        assert caught.exception.code() == grpc.StatusCode.PERMISSION_DENIED
        assert caught.exception.details() == "blocked by the interceptor"


# --------------------------------------------------------------------------- a class run here


def _busy(thread: threading.Thread) -> bool:
    """Not an idle worker of a `concurrent.futures` pool (asgiref leaves those to the collector)."""
    frame = sys._current_frames().get(thread.ident or 0)
    if frame is None:
        return False
    code = frame.f_code
    return not (code.co_name == "_worker" and code.co_filename.endswith(os.path.join("concurrent", "futures", "thread.py")))


def _run(case_class: type, *names: str) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.TestSuite([case_class(name) for name in names]).run(result)
    return result


def test_a_failing_test_shows_the_server_side_and_the_class_leaves_nothing_running(transactional_db, pb):
    """Run by unittest as Django's runner would: the failure's text has the server's traceback,
    the status the client saw; after the class the server, its threads, its port and the
    shared connections are gone."""
    pb2, pb_grpc = pb
    before = {thread.name for thread in threading.enumerate()}
    ports: list[int] = []

    class Failing(hybrid_testing.HybridTestCase):
        def test_assertion_after_a_server_error(self):
            ports.extend((self.live_server.grpc_port, self.live_server.http_port))
            stub = pb_grpc.ProbeServiceControllerStub(self.grpc_channel)  # a plain stub: explained by the test
            try:
                stub.Fail(pb2.ProbeMessage(message="crash"), timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.OK, "the call failed"

        async def test_async_failure(self):
            stub = self.stub(pb_grpc.ProbeServiceControllerStub)
            await stub.Fail(pb2.ProbeMessage(message="crash"), timeout=10)

    result = _run(Failing, "test_assertion_after_a_server_error", "test_async_failure")
    assert result.testsRun == 2
    texts = [text for _, text in result.failures + result.errors]
    assert len(texts) == 2, texts
    for text in texts:
        assert "--- the server logged during" in text, text
        assert "ValueError: secret internals" in text and 'probe_service.py", line' in text, text
    assert "AssertionError: the call failed" in texts[0]
    assert "AioRpcError" in texts[1] and "The client saw status UNKNOWN, details 'ValueError'." in texts[1]

    server = Failing.live_server
    assert server.state is State.STOPPED
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
    left = {thread.name for thread in threading.enumerate() if thread.name not in before and _busy(thread)}
    assert {name for name in left if "_poll_wrapper" not in name} == set()  # grpc.aio's own poller stays
    assert not isinstance(connections._connections, _SharedStorage)

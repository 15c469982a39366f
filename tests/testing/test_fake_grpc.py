"""django-socio-grpc's documented test helpers, used as its users use them (a Django `TestCase`,
the helper made in `setUp`, closed in `tearDown`), with a real server underneath: middleware,
interceptors, the decode guard, the error mapping and grpc's own context all run."""
from __future__ import annotations

import socket
import warnings

import grpc
import pytest
from django.test import TestCase, override_settings

from django_socio_grpc.tests.grpc_test_utils.fake_grpc import FakeAIOGRPC, FakeFullAIOGRPC, FakeGRPC
from tests.testing import support

FRAMEWORK = {
    "ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers",
    "SERVER_INTERCEPTORS": ["tests.testing.support.RecordingInterceptor"],
    "GRPC_MIDDLEWARE": support.MIDDLEWARE,
}


def _pb():
    from testapp.grpc import testapp_pb2, testapp_pb2_grpc

    return testapp_pb2, testapp_pb2_grpc


def _probe_servicer():
    from testapp.services.probe_service import ProbeService

    return ProbeService.as_servicer()


@pytest.mark.usefixtures("pb")
@override_settings(GRPC_FRAMEWORK=FRAMEWORK)
class FakeFullAIOGRPCTests(TestCase):
    def setUp(self):
        support.SEEN.clear()
        _, pb_grpc = _pb()
        self.fake_grpc = FakeFullAIOGRPC(pb_grpc.add_ProbeServiceControllerServicer_to_server, _probe_servicer())
        self.stub = self.fake_grpc.get_fake_stub(pb_grpc.ProbeServiceControllerStub)  # no loop yet: bound per call

    def tearDown(self):
        self.fake_grpc.close()

    async def test_unary_with_metadata_interceptor_and_middleware(self):
        pb2, _ = _pb()
        call = self.stub.Echo(pb2.ProbeMessage(message="hi"), metadata=(("x-key", "v"),))
        assert (await call).message == "hi"
        assert dict(await call.trailing_metadata())["x-middleware"] == "Echo"
        response, call = await self.stub.Echo.with_call(request=pb2.ProbeMessage(message="again"))
        assert response.message == "again"
        assert support.SEEN == ["/testproject.testapp.ProbeServiceController/Echo"] * 2
        with self.assertRaises(grpc.RpcError) as caught:
            await self.stub.Echo(pb2.ProbeMessage(), metadata=(("x-block", "1"),))
        assert caught.exception.code() == grpc.StatusCode.PERMISSION_DENIED

    async def test_streams_in_every_shape(self):
        pb2, _ = _pb()
        assert [r.message async for r in self.stub.StreamAsync(pb2.ProbeMessage(message="s", count=3))] == ["s0", "s1", "s2"]
        stream_in = self.stub.CollectSync()
        for name in "abc":
            await stream_in.write(pb2.ProbeMessage(message=name))
        await stream_in.done_writing()
        assert (await stream_in).count == 3

        async def requests():
            for name in "de":
                yield pb2.ProbeMessage(message=name)

        assert (await self.stub.CollectAsync(requests())).message == "de"
        bidi = self.stub.BidiAsync()
        await bidi.write(pb2.ProbeMessage(message="a"))
        await bidi.write(pb2.ProbeMessage(message="b"))
        assert (await bidi.read()).message == "A"
        await bidi.write(pb2.ProbeMessage(message="c"))
        assert [(await bidi.read()).message, (await bidi.read()).message] == ["B", "C"]
        await bidi.done_writing()
        assert await bidi.read() is grpc.aio.EOF

    async def test_errors_are_grpcs_and_explain_themselves(self):
        pb2, _ = _pb()
        with self.assertRaises(grpc.RpcError) as caught:
            await self.stub.Fail(pb2.ProbeMessage(message="not_found"))
        assert caught.exception.code() == grpc.StatusCode.NOT_FOUND
        assert "no such thing" in caught.exception.details()
        with self.assertRaises(grpc.RpcError) as caught:
            await self.stub.Fail(pb2.ProbeMessage(message="crash"))
        assert (caught.exception.code(), caught.exception.details()) == (grpc.StatusCode.UNKNOWN, "ValueError")
        assert "ValueError: secret internals" in "\n".join(caught.exception.__notes__)
        responses = []
        with self.assertRaises(grpc.RpcError) as caught:
            async for response in self.stub.StreamAsync(pb2.ProbeMessage(message="fail", count=1)):
                responses.append(response.message)
        assert responses == ["fail0"] and caught.exception.code() == grpc.StatusCode.INVALID_ARGUMENT

    async def test_rows_are_seen_both_ways(self):
        """A TestCase's transaction is shared with the server (in-memory SQLite)."""
        from testapp.models import Item

        pb2, _ = _pb()
        await Item.objects.acreate(name="row")
        assert (await self.stub.DbAsync(pb2.ProbeMessage(message="row"))).count == 2  # the test's row and its own
        assert await Item.objects.filter(name="row").acount() == 2

    def test_only_the_given_servicer_is_served_and_close_stops_it(self):
        pb2, pb_grpc = _pb()
        port = self.fake_grpc.live_server.grpc_port
        plain = pb_grpc.ItemControllerStub(self.fake_grpc.grpc_channel)
        with self.assertRaises(grpc.RpcError) as caught:
            plain.Retrieve(pb2.ItemRetrieveRequest(id=1), timeout=10)
        assert caught.exception.code() == grpc.StatusCode.UNIMPLEMENTED
        garbage = self.fake_grpc.grpc_channel.unary_unary("/testproject.testapp.ProbeServiceController/Echo")
        with self.assertRaises(grpc.RpcError) as caught:
            garbage(b"\xff\xff\xff", timeout=10)  # the decode guard
        assert caught.exception.code() == grpc.StatusCode.INVALID_ARGUMENT
        self.fake_grpc.close()
        self.fake_grpc.close()  # twice is harmless
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.usefixtures("pb")
@override_settings(GRPC_FRAMEWORK={**FRAMEWORK, "SERVER_INTERCEPTORS": ["tests.testing.support.SyncRecordingInterceptor"]})
class FakeGRPCTests(TestCase):
    """The sync helper: blocking stubs, on the thread-pool backend."""

    def setUp(self):
        _, pb_grpc = _pb()
        self.fake_grpc = FakeGRPC(pb_grpc.add_ProbeServiceControllerServicer_to_server, _probe_servicer())

    def tearDown(self):
        self.fake_grpc.close()

    def test_shapes_and_the_orm(self):
        from testapp.models import Item

        pb2, pb_grpc = _pb()
        assert self.fake_grpc.grpc_server.grpc.is_aio is False
        stub = self.fake_grpc.get_fake_stub(pb_grpc.ProbeServiceControllerStub)
        response, call = stub.SyncEcho.with_call(request=pb2.ProbeMessage(message="x"))
        assert response.message == "x" and support.trailer(call) == "SyncEcho"
        assert [r.count for r in stub.StreamSync(request=pb2.ProbeMessage(count=2))] == [0, 1]
        assert stub.CollectSync(iter([pb2.ProbeMessage(message="y")])).message == "y"
        assert stub.DbSync(pb2.ProbeMessage(message="z")).count == 1
        assert Item.objects.filter(name="z").exists()  # the server's write, in the test's transaction
        with self.assertRaises(grpc.RpcError) as caught:
            stub.SyncFail(pb2.ProbeMessage(message="crash"))
        assert "ValueError: secret internals" in "\n".join(caught.exception.__notes__)

    def test_the_servers_writes_were_rolled_back_with_the_test(self):  # runs after test_shapes_and_the_orm
        from testapp.models import Item

        assert not Item.objects.filter(name="z").exists()


@pytest.mark.usefixtures("pb")
class FakeAIOGRPCTests(TestCase):
    async def test_deprecated_and_the_same(self):
        pb2, pb_grpc = _pb()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fake = FakeAIOGRPC(pb_grpc.add_ProbeServiceControllerServicer_to_server, _probe_servicer())
        try:
            assert any(issubclass(w.category, DeprecationWarning) for w in caught)
            stub = fake.get_fake_stub(pb_grpc.ProbeServiceControllerStub)
            assert (await stub.Echo(request=pb2.ProbeMessage(message="old"))).message == "old"
        finally:
            fake.close()

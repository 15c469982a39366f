"""django-socio-grpc's test helpers, used as documented, with a real server underneath.

    class TestPost(TestCase):
        def setUp(self):
            self.fake_grpc = FakeFullAIOGRPC(add_PostControllerServicer_to_server, PostService.as_servicer())

        def tearDown(self):
            self.fake_grpc.close()

        async def test_retrieve(self):
            stub = self.fake_grpc.get_fake_stub(PostControllerStub)
            response = await stub.Retrieve(post_pb2.PostRetrieveRequest(id=1), metadata=(("x-key", "v"),))

Nothing is faked any more: each helper runs a real hybrid server of this process on a loopback
port (`hybrid_server.testing.LiveServer`) serving the servicer you give it, and its stubs are
grpc's own on a real channel. So `GRPC_MIDDLEWARE`, `SERVER_INTERCEPTORS`, the decode guard,
the error mapping and grpc's context all run as in production; a failed call raises grpc's
`RpcError` (`.code()`, `.details()`), which also carries what the server logged during the call
(the exception behind an UNKNOWN status, with its traceback).

- `FakeFullAIOGRPC`: `grpc.aio` stubs (`await stub.Unary(request)`, `async for r in
  stub.Stream(request)`, `call = stub.StreamIn(); await call.write(r); await call.done_writing();
  await call`), on the aio backend. `get_fake_stub()` may be called in `setUp` (no loop yet):
  each call uses a channel of the loop it runs in.
- `FakeGRPC`: blocking stubs (`stub.Unary(request)`, `for r in stub.Stream(request)`), on the
  thread-pool backend.
- `FakeAIOGRPC`: deprecated in django-socio-grpc; the same as `FakeFullAIOGRPC` here.

The server's threads share the test's in-memory SQLite connections (Django's default test
database for SQLite), so rows created in a `TestCase` are seen by the RPCs and their writes are
rolled back with the test. With another database (PostgreSQL, ...) the server's threads have
connections of their own: use `TransactionTestCase` (see docs/testing.md).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from hybrid_server.testing.database import shared_connections
from hybrid_server.testing.live import LiveServer
from hybrid_server.testing.stubs import LoopStub, explaining_stub

__all__ = ["FakeAIOGRPC", "FakeFullAIOGRPC", "FakeGRPC"]


class FakeGRPC:
    """A real server for one servicer, with blocking stubs. Keywords are `Options` fields."""

    backend = "threads"

    def __init__(self, grpc_add_to_server: Callable[[Any, Any], Any], grpc_servicer: Any, **options: Any) -> None:
        def hook(server: Any) -> None:
            grpc_add_to_server(grpc_servicer, server)

        self._sharing: Any = shared_connections()
        self._sharing.__enter__()
        options = {"backend": self.backend, "handlers_hook": hook, "health": False, "reflection": False, **options}
        try:
            self.live_server = LiveServer(**options).start()
        except BaseException:
            self._sharing.__exit__(None, None, None)
            raise
        self.grpc_addr = self.live_server.grpc_target
        self.grpc_server = self.live_server.server
        self.grpc_channel = self.live_server.channel()
        self._loop_stubs: list[LoopStub] = []
        self._closed = False

    def get_fake_stub(self, grpc_stub_cls: Callable[[Any], Any]) -> Any:
        return explaining_stub(grpc_stub_cls, self.grpc_channel)

    def close(self) -> None:
        """Stop the server (calls still running get the grace period) and close the channels."""
        if self._closed:
            return
        self._closed = True
        try:
            for stub in self._loop_stubs:
                stub.close()
            self.live_server.stop()
        finally:
            self._sharing.__exit__(None, None, None)

    def __enter__(self) -> FakeGRPC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeFullAIOGRPC(FakeGRPC):
    """A real server for one servicer, with `grpc.aio` stubs."""

    backend = "aio"

    def get_fake_stub(self, grpc_stub_cls: Callable[[Any], Any]) -> Any:
        stub = LoopStub(grpc_stub_cls, self.grpc_addr)
        self._loop_stubs.append(stub)
        return stub


class FakeAIOGRPC(FakeFullAIOGRPC):
    """Deprecated in django-socio-grpc (use `FakeFullAIOGRPC`); the same here."""

    def __init__(self, grpc_add_to_server: Callable[[Any, Any], Any], grpc_servicer: Any, **options: Any) -> None:
        warnings.warn("FakeAIOGRPC is deprecated: use FakeFullAIOGRPC", DeprecationWarning, stacklevel=2)
        super().__init__(grpc_add_to_server, grpc_servicer, **options)

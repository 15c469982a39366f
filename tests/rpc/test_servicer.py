"""The servicer's functions and `bind_runtime`: what the engine, a plain grpc.aio server and a
non-gRPC transport (its own context, implementing only `RpcContext`) each get."""
from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.exceptions import RegistrationError
from django_socio_grpc.services import Service
from django_socio_grpc.utils.servicer_register import AppHandlerRegistry
from hybrid_server.grpc.handle import ServerHandle
from hybrid_server.grpc.runtime import Runtime
from tests.rpc import services
from tests.rpc.conftest import Client, add_service

TIMEOUT = 10


@pytest.fixture
def bridge_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_servicer_functions_are_real_functions_of_the_aio_kind():
    servicer = services.ShapesService.as_servicer()
    for name, spec in services.ShapesService.get_grpc_actions().items():
        function = getattr(servicer, name)
        assert inspect.isfunction(function) and function.__name__ == name
        assert (inspect.isasyncgenfunction if spec.response_stream else inspect.iscoroutinefunction)(function), name
        assert callable(function.bind_runtime)
    assert servicer.service_class is services.ShapesService


def test_bind_runtime_builds_the_handler_of_the_backend(bridge_loop):
    servicer = services.ShapesService.as_servicer()
    threads = Runtime("threads", bridge_loop=bridge_loop)
    for name, spec in services.ShapesService.get_grpc_actions().items():
        aio_handler = getattr(servicer, name).bind_runtime(Runtime("aio"))
        threads_handler = getattr(servicer, name).bind_runtime(threads)
        if spec.response_stream:
            assert inspect.isasyncgenfunction(aio_handler) and inspect.isgeneratorfunction(threads_handler), name
        else:
            assert inspect.iscoroutinefunction(aio_handler), name
            assert inspect.isfunction(threads_handler) and not inspect.iscoroutinefunction(threads_handler), name


def test_bad_runtimes_are_refused_at_binding():
    servicer = services.ShapesService.as_servicer()
    with pytest.raises(ValueError, match="unknown backend"):
        servicer.Unary.bind_runtime(Runtime("trio"))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="bridge loop"):
        servicer.Unary.bind_runtime(Runtime("threads"))
    servicer.SyncUnary.bind_runtime(Runtime("threads"))  # a `def` action needs none


def test_servicer_on_a_plain_grpc_aio_server(pb):
    """Outside the engine (no ServerHandle): each function binds itself to the default runtime."""
    msg = pb[0].ProbeMessage

    async def main() -> None:
        server = grpc.aio.server()
        add_service(server, "test.Shapes", services.ShapesService)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                client = Client(channel)
                assert (await client("test.Shapes", "Unary")(msg(), timeout=TIMEOUT)).count == 1
                reply = await client("test.Shapes", "SyncUnary")(msg(), timeout=TIMEOUT)
                assert reply.count == 0 and reply.message != "MainThread"  # the loop's default executor
                assert [r.count async for r in client("test.Shapes", "ServerStream")(msg(count=2), timeout=TIMEOUT)] == [0, 1]
                assert [r.count async for r in client("test.Shapes", "SyncServerStream")(msg(count=2), timeout=TIMEOUT)] == [0, 1]
                parts = [msg(message=p) for p in "ab"]
                assert (await client("test.Shapes", "SyncClientStream")(iter(parts), timeout=TIMEOUT)).message == "ab"
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await client("test.Shapes", "SyncUnary")(msg(message="not_found"), timeout=TIMEOUT)
                assert info.value.code() == grpc.StatusCode.NOT_FOUND
        finally:
            await server.stop(None)

    asyncio.run(main())


# --------------------------------------------------------------------------- another transport


class HttpLikeContext:
    """Only what `hybrid_server.grpc.context.RpcContext` promises (no grpc internals). Like
    grpc.aio's, `abort()` records the status and raises `grpc.aio.AbortError`."""

    def __init__(self, metadata: Any = ()) -> None:
        self.metadata = tuple(metadata)
        self.trailing: Any = ()
        self.status: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> Any:
        return self.metadata

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self.trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Any:
        return self.trailing

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        if trailing_metadata:
            self.trailing = tuple(trailing_metadata)
        self.status = (code, details)
        raise grpc.aio.AbortError()

    def set_code(self, code: grpc.StatusCode) -> None:
        self.status = (code, self.status[1] if self.status else "")

    def set_details(self, details: str) -> None:
        self.status = (self.status[0] if self.status else grpc.StatusCode.OK, details)

    def code(self) -> grpc.StatusCode | None:
        return self.status[0] if self.status else None

    def time_remaining(self) -> float | None:
        return None

    def cancelled(self) -> bool:
        return False

    def peer(self) -> str:
        return "http:127.0.0.1:1234"


@pytest.fixture
def http_bound(pb):
    """The handlers a non-gRPC transport gets: bound again, to an aio runtime of its own."""
    pool = ThreadPoolExecutor(2, thread_name_prefix="http-rpc")
    servicer = services.ShapesService.as_servicer()
    runtime = Runtime("aio", executor=pool)
    yield lambda name: getattr(servicer, name).bind_runtime(runtime)
    pool.shutdown()


async def _aiter(items: list[Any]) -> Any:
    for item in items:
        yield item


@pytest.mark.parametrize("method", ["Unary", "SyncUnary"])
def test_another_transport_drives_unary_actions(http_bound, pb, method):
    msg = pb[0].ProbeMessage

    async def main() -> Any:
        return await http_bound(method)(msg(), HttpLikeContext())

    reply = asyncio.run(main())
    assert reply.message.startswith("http-rpc") == (method == "SyncUnary")  # `def` actions in its pool


@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
def test_another_transport_drives_streams(http_bound, pb, method):
    msg = pb[0].ProbeMessage

    async def main() -> list[int]:
        return [reply.count async for reply in http_bound(method)(msg(count=3), HttpLikeContext())]

    assert asyncio.run(main()) == [0, 1, 2]


@pytest.mark.parametrize("method", ["ClientStream", "SyncClientStream"])
def test_another_transport_drives_request_streams(http_bound, pb, method):
    msg = pb[0].ProbeMessage

    async def main() -> Any:
        return await http_bound(method)(_aiter([msg(message=p) for p in "xyz"]), HttpLikeContext())

    assert asyncio.run(main()).message == "xyz"


def test_another_transport_sees_metadata_from_a_def_action(http_bound, pb):
    msg = pb[0].ProbeMessage
    reply = asyncio.run(http_bound("Metadata")(msg(), HttpLikeContext([("x-probe", "over http")])))
    assert (reply.message, reply.count) == ("over http", 1)


@pytest.mark.parametrize("method", ["Unary", "SyncUnary", "ServerStream", "SyncServerStream"])
@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("not_found", (grpc.StatusCode.NOT_FOUND, '{"message": "no such thing", "code": "not_found"}')),
        ("value", (grpc.StatusCode.UNKNOWN, "ValueError")),
        ("abort", (grpc.StatusCode.FAILED_PRECONDITION, "aborted by action")),
    ],
)
def test_another_transport_gets_the_status_through_its_context(http_bound, pb, method, kind, status):
    msg = pb[0].ProbeMessage
    context = HttpLikeContext()

    async def main() -> None:
        result = http_bound(method)(msg(message=kind, count=1), context)
        if inspect.isasyncgen(result):
            async for _ in result:
                pass
        else:
            await result

    with pytest.raises(grpc.aio.AbortError):
        asyncio.run(main())
    assert context.status == status
    if kind == "abort":
        assert set(services.TRAILING) <= set(context.trailing)


# --------------------------------------------------------------------------- the registry


def test_registry_wires_through_the_handle_once_per_server(pb, bridge_loop):
    def handle() -> ServerHandle:
        return ServerHandle(grpc.server(ThreadPoolExecutor(1)), Runtime("threads", bridge_loop=bridge_loop))

    first, second = handle(), handle()
    AppHandlerRegistry("testapp", first).register("ProbeService")
    assert first.services == ["testproject.testapp.ProbeServiceController"]  # recorded by the handle
    record = first.methods["/testproject.testapp.ProbeServiceController/Echo"]
    assert inspect.isfunction(record.handler.unary_unary) and record.rebind is not None  # bound to threads
    with pytest.raises(RegistrationError, match="registered twice"):
        AppHandlerRegistry("testapp", first).register("ProbeService")
    AppHandlerRegistry("testapp", second).register("ProbeService")  # another server: fine
    assert second.services == ["testproject.testapp.ProbeServiceController"]


# --------------------------------------------------------------------------- the fresh Service


class _Greeting(Service):
    prefix = "class"

    @grpc_action(request=[{"name": "message", "type": "string"}], response=[{"name": "message", "type": "string"}])
    async def Say(self, request, context):
        return self.reply(message=f"{self.prefix}:{getattr(self, 'made', '-')}:{request.message}")

    def reply(self, **fields):
        return type(self.request)(**fields)


class _OwnInit(_Greeting):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.made = "init"


@pytest.mark.parametrize(("service_class", "initkwargs", "expected"), [
    (_Greeting, {}, "class:-:hi"),  # the base __init__, nothing to set: only allocated
    (_Greeting, {"prefix": "kw"}, "kw:-:hi"),  # initkwargs are set on every call's Service
    (_OwnInit, {}, "class:init:hi"),  # a Service's own __init__ runs for every call
])
def test_every_rpc_gets_a_fresh_service_made_as_declared(pb, service_class, initkwargs, expected):
    msg = pb[0].ProbeMessage

    async def main() -> list[str]:
        server = grpc.aio.server()
        add_service(server, "test.Greeting", service_class, **initkwargs)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                say = Client(channel, {"test.Greeting": service_class})("test.Greeting", "Say")
                return [(await say(msg(message="hi"), timeout=TIMEOUT)).message for _ in range(2)]
        finally:
            await server.stop(None)

    assert asyncio.run(main()) == [expected, expected]

"""A `SystemExit` or `KeyboardInterrupt` raised by user code that grpc runs in an RPC's own task
fails that call only, on both backends: an interceptor (while it picks the handler, and in the
behaviour it hands back), a hand-written generic handler's `service()`, a request deserializer,
a response serializer written in Python. grpc.aio's per-RPC tasks are not wrapped by the
engine's task factory (hybrid_server.containment): these guards are what keeps the server up.
The server keeps serving, and says nothing of the exception's text outside DEBUG."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from hybrid_server.testing import LiveServer

TIMEOUT = 20.0
EXITS = {"exit": SystemExit, "interrupt": KeyboardInterrupt}


def _exit(kind: str) -> None:
    if kind in EXITS:
        raise EXITS[kind]("secret text")


def _kind(details: Any) -> str:
    return dict(getattr(details, "invocation_metadata", None) or ()).get("x-exit", "")


class AioExiting(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        kind = _kind(details)
        if not kind.startswith("wrap-"):
            _exit(kind)
        handler = await continuation(details)
        if not kind.startswith("wrap-") or handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def wrapped(request: Any, context: Any) -> Any:
            _exit(kind[len("wrap-"):])
            return await inner(request, context)

        return handler._replace(unary_unary=wrapped)


class SyncExiting(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Any, details: Any) -> Any:
        kind = _kind(details)
        if not kind.startswith("wrap-"):
            _exit(kind)
        handler = continuation(details)
        if not kind.startswith("wrap-") or handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        def wrapped(request: Any, context: Any) -> Any:
            _exit(kind[len("wrap-"):])
            return inner(request, context)

        return handler._replace(unary_unary=wrapped)


def _deserialize(data: bytes) -> bytes:
    _exit(data.decode())
    return data


def _serialize(message: bytes) -> bytes:
    text = message.decode()
    if text.startswith("later-"):
        _exit(text[len("later-"):])
    return message


class _Generic(grpc.GenericRpcHandler):
    """`/guards.Generic/Echo` (bytes as they are); its lookup exits when the method is `/guards.Generic/Exit`."""

    def __init__(self, aio: bool) -> None:
        if aio:
            async def echo(request: Any, context: Any) -> Any:
                return request
        else:
            def echo(request: Any, context: Any) -> Any:  # type: ignore[misc]
                return request
        self._echo = grpc.unary_unary_rpc_method_handler(echo)
        self._codecs = grpc.unary_unary_rpc_method_handler(echo, request_deserializer=_deserialize,
                                                           response_serializer=_serialize)

    def service(self, details: Any) -> Any:
        if details.method == "/guards.Generic/Exit":
            raise SystemExit("secret text")
        if details.method == "/guards.Generic/Echo":
            return self._echo
        if details.method == "/guards.Generic/Codecs":
            return self._codecs
        return None


def _serve(backend: str, intercepted: bool) -> Any:
    aio = backend == "aio"

    def hook(server: Any) -> None:
        from testproject.handlers import grpc_handlers

        grpc_handlers(server)
        server.add_generic_rpc_handlers((_Generic(aio),))

    interceptors = [AioExiting() if aio else SyncExiting()] if intercepted else []
    return LiveServer(backend=backend, interceptors=interceptors, handlers_hook=hook, health=False)


@pytest.fixture(scope="module", params=["aio", "threads"])
def served(request: pytest.FixtureRequest, pb: Any) -> Iterator[LiveServer]:
    """With an interceptor that exits when asked to."""
    with _serve(request.param, intercepted=True) as live:
        yield live


@pytest.fixture(scope="module", params=["aio", "threads"])
def plain(request: pytest.FixtureRequest, pb: Any) -> Iterator[LiveServer]:
    """Without interceptors (which would contain the others' exits themselves)."""
    with _serve(request.param, intercepted=False) as live:
        yield live


def _echo(served: LiveServer, pb: Any) -> str:
    pb2, pb2_grpc = pb
    return pb2_grpc.ProbeServiceControllerStub(served.channel()).Echo(pb2.ProbeMessage(message="alive"), timeout=TIMEOUT).message


@pytest.mark.parametrize("kind", ["exit", "interrupt", "wrap-exit", "wrap-interrupt"])
def test_an_interceptor_that_exits_fails_its_call_only(served, pb, kind):
    pb2, pb2_grpc = pb
    stub = pb2_grpc.ProbeServiceControllerStub(served.channel())
    with pytest.raises(grpc.RpcError) as failed:
        stub.Echo(pb2.ProbeMessage(message="x"), metadata=[("x-exit", kind)], timeout=TIMEOUT)
    expected = "SystemExit" if kind.endswith("exit") else "KeyboardInterrupt"
    assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.UNKNOWN, expected)
    assert _echo(served, pb) == "alive"


def test_a_generic_handler_whose_lookup_exits_fails_that_call_only(plain, pb):
    channel = plain.channel()
    with pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary("/guards.Generic/Exit")(b"x", timeout=TIMEOUT)
    assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.UNKNOWN, "SystemExit")
    assert channel.unary_unary("/guards.Generic/Echo")(b"x", timeout=TIMEOUT) == b"x"
    assert _echo(plain, pb) == "alive"


@pytest.mark.parametrize("kind", ["exit", "interrupt"])
def test_a_request_deserializer_that_exits_rejects_that_request(plain, pb, kind):
    call = plain.channel().unary_unary("/guards.Generic/Codecs")
    with pytest.raises(grpc.RpcError) as failed:
        call(kind.encode(), timeout=TIMEOUT)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert call(b"fine", timeout=TIMEOUT) == b"fine"
    assert _echo(plain, pb) == "alive"


def test_a_response_serializer_that_exits_fails_that_call(plain, pb):
    call = plain.channel().unary_unary("/guards.Generic/Codecs")
    # the deserializer lets the request through; the serializer then exits on the echoed bytes
    with pytest.raises(grpc.RpcError) as failed:
        call(b"later-exit", timeout=TIMEOUT)
    assert failed.value.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    assert "secret" not in (failed.value.details() or "")
    assert _echo(plain, pb) == "alive"

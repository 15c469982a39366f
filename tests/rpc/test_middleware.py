"""GRPC_MIDDLEWARE: order, one factory call per servicer and flavour, the mapped errors they
see, and `call.on_stream_end`."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
import pytest
from asgiref.sync import iscoroutinefunction
from django.test import override_settings
from django.utils.decorators import sync_and_async_middleware

from django_socio_grpc import exceptions
from django_socio_grpc.rpc.errors import Aborted
from hybrid_server.grpc.runtime import Runtime
from hybrid_server.testing import LiveServer
from tests.rpc import services
from tests.rpc.conftest import BACKENDS, SERVICES, Client, add_service, rpc_hook

TIMEOUT = 10
FACTORY_CALLS: list[tuple[str, str]] = []
ENDED = threading.Event()


def recording(name: str) -> Any:
    """A sync-and-async middleware that records entering, leaving, errors and the stream's end."""

    def on_end(error: BaseException | None) -> None:
        services.EVENTS.append((name, "end", error))
        ENDED.set()

    @sync_and_async_middleware
    def factory(get_response: Any) -> Any:
        if iscoroutinefunction(get_response):
            FACTORY_CALLS.append((name, "async"))

            async def middleware(call: Any) -> Any:
                services.EVENTS.append((name, "in", call.action))
                try:
                    response = await get_response(call)
                except BaseException as exc:
                    services.EVENTS.append((name, "raised", exc))
                    raise
                services.EVENTS.append((name, "out", call.action))
                if call.response_stream:
                    call.on_stream_end(on_end)
                return response

            return middleware

        FACTORY_CALLS.append((name, "sync"))

        def sync_middleware(call: Any) -> Any:
            services.EVENTS.append((name, "in", call.action))
            try:
                response = get_response(call)
            except BaseException as exc:
                services.EVENTS.append((name, "raised", exc))
                raise
            services.EVENTS.append((name, "out", call.action))
            if call.response_stream:
                call.on_stream_end(on_end)
            return response

        return sync_middleware

    factory.__name__ = factory.__qualname__ = name
    return factory


def sync_only(get_response: Any) -> Any:
    """A plain Django-style middleware (sync only): adapted in the async chain."""
    FACTORY_CALLS.append(("sync_only", "async" if iscoroutinefunction(get_response) else "sync"))

    def middleware(call: Any) -> Any:
        services.EVENTS.append(("sync_only", "in", call.action))
        response = get_response(call)
        services.EVENTS.append(("sync_only", "out", call.action))
        return response

    return middleware


def refuse(get_response: Any) -> Any:
    """Raises a plain exception before the action (nothing has mapped it yet)."""

    def middleware(call: Any) -> Any:
        raise exceptions.PermissionDenied("refused by middleware")

    return middleware


OUTER, INNER = recording("outer"), recording("inner")


@pytest.fixture(autouse=True)
def _reset() -> None:
    FACTORY_CALLS.clear()
    ENDED.clear()
    services.RELEASE.clear()


def serve(backend: str, middleware: list[Any], hook: Any = rpc_hook, **framework: Any) -> Any:
    """A server whose chains are built with `middleware` (they are built when the hook binds)."""

    class Served:
        def __enter__(self) -> Client:
            self.settings = override_settings(GRPC_FRAMEWORK={"GRPC_MIDDLEWARE": middleware, **framework})
            self.settings.enable()
            try:
                self.live = LiveServer(backend=backend, handlers_hook=hook, health=False).start()
            except BaseException:
                self.settings.disable()
                raise
            return Client(self.live.channel())

        def __exit__(self, *exc: object) -> None:
            try:
                self.live.stop()
            finally:
                self.settings.disable()

    return Served()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def two(pb: Any, backend: str) -> Any:
    """outer, inner: both sync-and-async."""
    with serve(backend, [OUTER, INNER]) as client:
        yield client


def events_of(*names: str) -> list[Any]:
    return [event[:2] if event[1] in ("raised", "end") else event for event in services.EVENTS if event[0] in names]


@pytest.mark.parametrize("service", ["test.SyncHooks", "test.AsyncHooks"])
@pytest.mark.parametrize("method", ["Unary", "SyncUnary"])
def test_order_around_hooks_and_action(two, msg, service, method):
    assert two(service, method)(msg(), timeout=TIMEOUT).message == f"before:{method}"
    assert [event[:2] for event in services.EVENTS] == [
        ("outer", "in"), ("inner", "in"), ("before", method), ("action", method), ("after", method),
        ("inner", "out"), ("outer", "out"),
    ]


@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
def test_stream_ends_after_its_last_message_before_its_status(two, msg, method):
    replies = list(two("test.SyncHooks", method)(msg(count=2), timeout=TIMEOUT))
    assert [reply.count for reply in replies] == [0, 1]
    # The end callbacks have run when the client has the status: no waiting needed.
    assert [event[:2] for event in services.EVENTS] == [
        ("outer", "in"), ("inner", "in"), ("before", method), ("inner", "out"), ("outer", "out"),
        ("yield", 0), ("yield", 1), ("after", method), ("inner", "end"), ("outer", "end"),
    ]
    assert [event[2] for event in services.EVENTS if event[1] == "end"] == [None, None]


@pytest.mark.parametrize("method", ["Unary", "SyncUnary"])
def test_middleware_sees_the_mapped_error(two, msg, method):
    with pytest.raises(grpc.RpcError) as info:
        two("test.SyncHooks", method)(msg(message="not_found"), timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    raised = [event[2] for event in services.EVENTS if event[1] == "raised"]
    assert len(raised) == 2 and raised[0] is raised[1]  # inner and outer: one mapped error
    error = raised[0]
    assert isinstance(error, Aborted)
    assert (error.code, error.details, error.unexpected) == (
        grpc.StatusCode.NOT_FOUND, '{"message": "no such thing", "code": "not_found"}', False
    )
    assert isinstance(error.__cause__, exceptions.NotFound)
    assert not any(event[0] == "after" for event in services.EVENTS)  # after_action: only on success


@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
def test_stream_end_receives_the_mapped_error(two, msg, method):
    with pytest.raises(grpc.RpcError) as info:
        list(two("test.SyncHooks", method)(msg(message="value", count=1), timeout=TIMEOUT))
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.UNKNOWN, "ValueError")
    ends = [event[2] for event in services.EVENTS if event[1] == "end"]
    assert len(ends) == 2 and ends[0] is ends[1]
    assert isinstance(ends[0], Aborted) and ends[0].unexpected and isinstance(ends[0].__cause__, ValueError)


@pytest.mark.parametrize("method", ["Hang", "SyncHang"])
def test_stream_end_runs_when_the_client_cancels(two, msg, method):
    stream = two("test.Shapes", method)(msg(), timeout=TIMEOUT)
    assert next(stream).message == "first"
    stream.cancel()
    services.RELEASE.set()  # a `def` stream notices once it yields again
    assert ENDED.wait(TIMEOUT), "on_stream_end did not run after the client cancelled"
    (error,) = [event[2] for event in services.EVENTS if event[:2] == ("inner", "end")]
    assert isinstance(error, BaseException) and not isinstance(error, Aborted)  # a cancellation, not a status


@pytest.mark.parametrize("backend", BACKENDS)
def test_factories_are_called_once_per_servicer_and_flavour(pb, backend):
    def hook(server: Any) -> None:
        add_service(server, "test.AsyncOnly", services.AsyncOnlyService)  # 3 async actions
        add_service(server, "test.SyncHooks", services.SyncHooksService)  # 2 def + 2 async actions
        add_service(server, "test.AsyncHooks", services.AsyncHooksService)  # another servicer

    with serve(backend, [OUTER, sync_only], hook=hook) as client:
        # AsyncOnly: the async chain only; the others: a sync and an async chain each. (A sync-only
        # factory always gets a sync get_response: in the async chain, an adapted one.)
        expected = [("outer", "async")] + [("outer", "sync"), ("outer", "async")] * 2 + [("sync_only", "sync")] * 5
        assert sorted(FACTORY_CALLS) == sorted(expected)
        calls = list(FACTORY_CALLS)
        for method in ("One", "Two"):
            assert client("test.AsyncOnly", method)(pb[0].ProbeMessage(), timeout=TIMEOUT).message == method.lower()
        assert [r.message for r in client("test.AsyncOnly", "Three")(pb[0].ProbeMessage(), timeout=TIMEOUT)] == ["three"]
        assert FACTORY_CALLS == calls  # nothing more per call


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["Unary", "SyncUnary", "ServerStream", "SyncServerStream"])
def test_sync_only_middleware_serves_every_kind_of_action(pb, backend, method):
    with serve(backend, [OUTER, sync_only], hook=rpc_hook) as client:
        reply = client("test.SyncHooks", method)(pb[0].ProbeMessage(count=1), timeout=TIMEOUT)
        if method.endswith("Stream"):
            (reply,) = reply
        assert reply.message == f"before:{method}"
    assert [event[:2] for event in services.EVENTS[:2]] == [("outer", "in"), ("sync_only", "in")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_a_middleware_raises_is_mapped_once(pb, backend, request_log):
    with serve(backend, [OUTER, "django_socio_grpc.middlewares.log_requests_middleware", refuse]) as client:
        for method in ("Unary", "SyncUnary"):
            services.EVENTS.clear()
            request_log.clear()
            with pytest.raises(grpc.RpcError) as info:
                client("test.Shapes", method)(pb[0].ProbeMessage(), timeout=TIMEOUT)
            assert (info.value.code(), info.value.details()) == (
                grpc.StatusCode.PERMISSION_DENIED, '{"message": "refused by middleware", "code": "permission_denied"}'
            )
            (record,) = request_log.wait()
            assert f"ShapesServiceController.{method} PERMISSION_DENIED" in record.getMessage()
            assert record.getMessage().endswith("(PermissionDenied)")
            (error,) = [event[2] for event in services.EVENTS if event[1] == "raised"]
            assert isinstance(error, Aborted) and isinstance(error.__cause__, exceptions.PermissionDenied)


@pytest.mark.parametrize("backend", BACKENDS)
def test_access_log_of_successful_calls(pb, backend, request_log):
    middleware = ["django_socio_grpc.middlewares.log_requests_middleware"]
    with serve(backend, middleware, LOG_OK_RESPONSE=True, IGNORE_LOG_FOR_ACTION=["ShapesServiceController.Unary"]) as client:
        client("test.Shapes", "SyncUnary")(pb[0].ProbeMessage(), timeout=TIMEOUT)
        list(client("test.Shapes", "ServerStream")(pb[0].ProbeMessage(count=2), timeout=TIMEOUT))
        client("test.Shapes", "Unary")(pb[0].ProbeMessage(), timeout=TIMEOUT)  # ignored
        records = request_log.wait(2)
    messages = [record.getMessage() for record in records]
    assert len(messages) == 2
    assert messages[0].startswith("gRPC ShapesServiceController.SyncUnary OK ") and "peer=ipv4:127.0.0.1:" in messages[0]
    assert messages[1].startswith("gRPC ShapesServiceController.ServerStream OK ")


@pytest.mark.parametrize("runtime", [Runtime("aio"), Runtime("threads", bridge_loop=asyncio.new_event_loop())], ids=BACKENDS)
def test_chains_are_built_when_the_servicer_is_bound(runtime):
    """At binding (inside the engine's hook, so a broken GRPC_MIDDLEWARE fails the start-up),
    not when the servicer is made nor per call."""
    with override_settings(GRPC_FRAMEWORK={"GRPC_MIDDLEWARE": [OUTER, "tests.rpc.no_such_module.middleware"]}):
        servicer = services.AsyncOnlyService.as_servicer()
        assert FACTORY_CALLS == []
        with pytest.raises(ImportError, match=r"tests\.rpc\.no_such_module"):
            servicer.One.bind_runtime(runtime)
    if runtime.bridge_loop is not None:
        runtime.bridge_loop.close()


def test_servicers_share_nothing(pb):
    """Each as_servicer() has chains of its own: two servicers, two factory calls."""
    with serve("aio", [OUTER], hook=lambda server: [add_service(server, name, SERVICES["test.AsyncOnly"])
                                                     for name in ("test.A", "test.B")]):
        assert FACTORY_CALLS == [("outer", "async"), ("outer", "async")]

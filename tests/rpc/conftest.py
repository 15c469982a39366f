"""In-process servers for the rpc tests: a real HybridServer (`LiveServer`) per backend, with the
test project's services and the services of `tests/rpc/services.py` under names of their own."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from hybrid_server.testing import LiveServer
from tests.rpc import services

BACKENDS = ["aio", "threads"]
SERVICES: dict[str, type] = {
    "test.Shapes": services.ShapesService,
    "test.SyncHooks": services.SyncHooksService,
    "test.AsyncHooks": services.AsyncHooksService,
    "test.AsyncOnly": services.AsyncOnlyService,
}
_KINDS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def _message() -> Any:
    from testapp.grpc import testapp_pb2

    return testapp_pb2.ProbeMessage


def add_service(server: Any, name: str, service_class: Any, **initkwargs: Any) -> Any:
    """What generated `add_XServicer_to_server` does, for a service without generated code."""
    message = _message()
    servicer = service_class.as_servicer(**initkwargs)
    handlers = {}
    for action, spec in service_class.get_grpc_actions().items():
        _, make = _KINDS[(spec.request_stream, spec.response_stream)]
        handlers[action] = make(
            getattr(servicer, action), request_deserializer=message.FromString, response_serializer=message.SerializeToString
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    return servicer


def rpc_hook(server: Any) -> None:
    """ROOT_HANDLERS_HOOK of the rpc tests: the test project's services, then ours."""
    from testproject.handlers import grpc_handlers

    grpc_handlers(server)
    for name, service_class in SERVICES.items():
        add_service(server, name, service_class)




class Client:
    """`client("test.Shapes", "Unary")`: the multi-callable of that method, by its shape."""

    def __init__(self, channel: grpc.Channel, services: dict[str, type] | None = None) -> None:
        self.channel = channel
        self.services = SERVICES if services is None else services
        self.message = _message()

    def __call__(self, service: str, method: str) -> Any:
        spec = self.services[service].get_grpc_actions()[method]
        kind, _ = _KINDS[(spec.request_stream, spec.response_stream)]
        return getattr(self.channel, kind)(
            f"/{service}/{method}", request_serializer=self.message.SerializeToString,
            response_deserializer=self.message.FromString,
        )

    def raw(self, service: str, method: str) -> Any:
        """The same method without serializers: bytes in, bytes out."""
        spec = self.services[service].get_grpc_actions()[method]
        kind, _ = _KINDS[(spec.request_stream, spec.response_stream)]
        return getattr(self.channel, kind)(f"/{service}/{method}")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def live(pb: Any, backend: str) -> Iterator[LiveServer]:
    """One server per backend and test module, serving everything read-only tests need."""
    with LiveServer(backend=backend, handlers_hook=rpc_hook, health=False) as server:
        yield server


@pytest.fixture(scope="module")
def client(live: LiveServer) -> Client:
    return Client(live.channel())


@pytest.fixture
def msg(pb: Any) -> Callable[..., Any]:
    return pb[0].ProbeMessage


@pytest.fixture(autouse=True)
def events() -> Iterator[list[Any]]:
    services.EVENTS.clear()
    yield services.EVENTS
    services.EVENTS.clear()


class RequestLog(logging.Handler):
    """The records of `django_socio_grpc.request`, with a bounded wait for them to arrive (the
    server writes them in its own threads; grpc.aio's own `context.abort()` even sends the
    status before the access log has written its line)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[logging.LogRecord]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.records) >= count, timeout=timeout)
            return list(self.records)

    def clear(self) -> None:
        with self._arrived:
            self.records.clear()


@pytest.fixture
def request_log() -> Iterator[RequestLog]:
    logger = logging.getLogger("django_socio_grpc.request")
    handler = RequestLog()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)

"""django-socio-grpc compatibility (issue 12) on the wire, in-process on both backends: streaming
actions in grpc.aio's style (`await context.write()`, `context.read()` loops), Django's own
middlewares in GRPC_MIDDLEWARE and the request object middlewares receive, and the request log's
records."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from django_socio_grpc import exceptions
from django_socio_grpc.services import Service
from hybrid_server.testing import LiveServer
from tests.rpc.conftest import BACKENDS, Client, RequestLog, add_service
from tests.rpc.services import action, msg

TIMEOUT = 10.0
EOF = grpc.aio.EOF


class WriteService(Service):
    """`async def` streaming actions that send with `await context.write()` and return None."""

    @action(response_stream=True)
    async def Write(self, request, context):
        for index in range(request.count):
            await context.write(msg(message="w", count=index))

    @action(request_stream=True, response_stream=True)
    async def ReadWrite(self, request, context):
        while (item := await context.read()) is not EOF:
            await context.write(msg(message=item.message.upper(), count=item.count))

    @action(request_stream=True, response_stream=True)
    async def IterateWrite(self, request, context):
        async for item in request:
            await context.write(msg(message=item.message, count=item.count))

    @action(request_stream=True, response_stream=True)
    async def ReadYield(self, request, context):
        while (item := await context.read()) is not EOF:
            yield msg(message=item.message, count=item.count)

    @action(request_stream=True)
    async def ReadAll(self, request, context):
        parts = []
        while (item := await context.read()) is not EOF:
            parts.append(item.message)
        return msg(message="".join(parts), count=len(parts))

    @action(response_stream=True)
    async def WriteThenFail(self, request, context):
        await context.write(msg(message="w", count=0))
        raise exceptions.NotFound("gone")


class WriteHooksService(WriteService):
    """The same with an `after_action` hook (the stream's end runs it)."""

    async def after_action(self):
        type(self).after_calls += 1

    after_calls = 0


SERVICES: dict[str, type] = {"compat.Write": WriteService, "compat.WriteHooks": WriteHooksService}


def compat_hook(server: Any) -> None:
    from testproject.handlers import grpc_handlers

    grpc_handlers(server)
    for name, service_class in SERVICES.items():
        add_service(server, name, service_class)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, pb: Any) -> Iterator[LiveServer]:
    with LiveServer(backend=request.param, handlers_hook=compat_hook, health=False) as live:
        yield live


@pytest.fixture
def client(served: LiveServer) -> Client:
    return Client(served.channel(), SERVICES)


def _requests(*parts: str) -> Iterator[Any]:
    return iter([msg(message=part, count=index) for index, part in enumerate(parts)])


# --------------------------------------------------------------------------- item 1: context.write()


@pytest.mark.parametrize("service", SERVICES)
def test_server_stream_written_with_context_write(client, service, request_log: RequestLog):
    replies = list(client(service, "Write")(msg(count=3), timeout=TIMEOUT))
    assert [(r.message, r.count) for r in replies] == [("w", 0), ("w", 1), ("w", 2)]
    assert list(client(service, "Write")(msg(count=0), timeout=TIMEOUT)) == []
    assert not [r for r in request_log.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("method", ["ReadWrite", "IterateWrite", "ReadYield"])
def test_bidi_in_grpc_aio_style(client, service, method):
    replies = list(client(service, method)(_requests("a", "b", "c"), timeout=TIMEOUT))
    expected = ["A", "B", "C"] if method == "ReadWrite" else ["a", "b", "c"]
    assert [(r.message, r.count) for r in replies] == list(zip(expected, range(3), strict=True))
    assert list(client(service, method)(iter([]), timeout=TIMEOUT)) == []


def test_bidi_written_with_context_write_answers_each_message_before_the_next(client):
    """A conversation: each write reaches the client while the client still holds the stream."""
    import queue

    answered: queue.SimpleQueue = queue.SimpleQueue()

    def requests():
        for index in range(3):
            if index:
                assert answered.get(timeout=TIMEOUT) == index - 1
            yield msg(message="m", count=index)

    seen = []
    for reply in client("compat.Write", "ReadWrite")(requests(), timeout=TIMEOUT):
        seen.append(reply.count)
        answered.put(reply.count)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("service", SERVICES)
def test_client_stream_read_with_context_read(client, service):
    reply = client(service, "ReadAll")(_requests("x", "y", "z"), timeout=TIMEOUT)
    assert (reply.message, reply.count) == ("xyz", 3)
    assert client(service, "ReadAll")(iter([]), timeout=TIMEOUT).count == 0


def test_a_written_stream_that_fails_sends_its_messages_then_the_status(client):
    replies = client("compat.Write", "WriteThenFail")(msg(), timeout=TIMEOUT)
    assert next(replies).count == 0
    with pytest.raises(grpc.RpcError) as info:
        next(replies)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_after_action_runs_once_a_written_stream_ended(client):
    before = WriteHooksService.after_calls
    assert len(list(client("compat.WriteHooks", "Write")(msg(count=2), timeout=TIMEOUT))) == 2
    assert WriteHooksService.after_calls == before + 1

"""close_old_connections_middleware and Django's request signals around `def` actions, both
backends: receivers of `request_started` / `request_finished` run once per RPC in the action's
thread, and Django's own receivers act on the connection a previous RPC of that thread opened
(its query log is reset when the next RPC starts), as between HTTP requests; `async def`
actions end with `request_finished` in the thread they borrowed. One worker thread, so that
consecutive RPCs share it."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import signals
from django.db import connections

from django_socio_grpc.services import Service
from hybrid_server.testing import LiveServer
from tests.rpc.conftest import BACKENDS, Client, add_service
from tests.rpc.services import action, here, msg

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 20.0


class SignalsService(Service):
    @action()
    def Plain(self, request, context):
        return msg(message=here())

    @action()
    def Orm(self, request, context):
        """count: the queries this thread's connection had logged when the action began."""
        from testapp.models import Item

        wrapper = connections["default"]  # this thread's
        logged = len(wrapper.queries_log)
        wrapper.force_debug_cursor = True  # log this one
        Item.objects.count()
        return msg(message=here(), count=logged)

    @action()
    async def AsyncOrm(self, request, context):
        from testapp.models import Item

        count = await Item.objects.acount()
        return msg(message="async", count=count)


SERVICES = {"signals.Signals": SignalsService}


def _hook(server: Any) -> None:
    add_service(server, "signals.Signals", SignalsService)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, pb: Any) -> Iterator[LiveServer]:
    with LiveServer(backend=request.param, handlers_hook=_hook, health=False, max_workers=1) as live:
        yield live


@pytest.fixture
def client(served: LiveServer) -> Client:
    return Client(served.channel(), SERVICES)


@pytest.fixture
def received() -> Iterator[list[tuple[str, str]]]:
    """(signal, thread) for every request signal sent while the test runs."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def started(**kwargs: Any) -> None:
        with lock:
            seen.append(("started", here()))

    def finished(**kwargs: Any) -> None:
        with lock:
            seen.append(("finished", here()))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield seen
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


@pytest.mark.parametrize("method", ["Plain", "Orm"])
def test_receivers_run_once_per_def_rpc_in_its_thread(client, received, method):
    for _ in range(3):
        thread = client("signals.Signals", method)(msg(), timeout=TIMEOUT).message
        assert received == [("started", thread), ("finished", thread)]
        received.clear()


def test_the_next_rpc_of_a_thread_that_used_the_database_starts_with_its_query_log_reset(client):
    threads = set()
    for _ in range(3):
        reply = client("signals.Signals", "Orm")(msg(), timeout=TIMEOUT)
        threads.add(reply.message)
        assert reply.count == 0  # the previous RPC's query was logged, then reset by request_started
    assert len(threads) == 1


def test_an_async_action_s_orm_thread_ends_with_request_finished(client, received):
    assert client("signals.Signals", "AsyncOrm")(msg(), timeout=TIMEOUT).message == "async"
    assert [name for name, _ in received] == ["finished"]
    assert received[0][1] != threading.current_thread().name

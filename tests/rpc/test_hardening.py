"""Hardening of the per-RPC path (issue 11), in-process on both backends: no client can wedge,
kill or starve the server.

- Cancelled or expired `async def` streams that used the ORM leave the thread pool intact.
- A `BaseException` from user code (SystemExit, KeyboardInterrupt, ...) fails its call only.
- Idle client streams cannot take the capacity other calls need (the stream idle timeout).
- A client stream the client cancelled makes the request iterator raise.
- An `async def` action that raises `CancelledError` itself still gets a status.

Synchronisation is on server-side events (the services below record them); every wait is bounded.
ORM tests use pytest-django's `transactional_db`, whose database the server's threads see.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from django_socio_grpc.services import Service
from hybrid_server.testing import LiveServer
from tests.rpc.conftest import BACKENDS, Client, add_service
from tests.rpc.services import action, msg

TIMEOUT = 20.0  # seconds any single wait may take before it fails the test
WORKERS = 4
ENDLESS = 10_000_000  # messages an endless stream would send


class Signals:
    """Server-side events the tests wait for: `arrived(n)` once `n` calls reached their point."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def reset(self) -> None:
        with self._changed:
            self._count = 0

    def arrive(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def arrived(self, count: int, timeout: float = TIMEOUT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._count >= count, timeout=timeout):
                raise AssertionError(f"{count} calls did not arrive within {timeout:g}s (only {self._count})")


ARRIVED = Signals()
BARRIER: list[threading.Barrier] = []  # the barrier `Together` calls meet at (a test sets it)


async def _orm() -> int:
    from testapp.models import Item

    return await Item.objects.acount()


class OrmService(Service):
    """`async def` actions of every shape that use the ORM, then wait (or stream without end)."""

    @action(response_stream=True)
    async def ServerStream(self, request, context):
        await _orm()
        for index in range(ENDLESS):
            yield msg(count=index)

    @action(request_stream=True, response_stream=True)
    async def Bidi(self, request, context):
        await _orm()
        async for item in request:
            yield msg(count=item.count)
            for index in range(ENDLESS if item.message == "flood" else 0):
                yield msg(count=index)

    @action(request_stream=True)
    async def ClientStream(self, request, context):
        await _orm()
        ARRIVED.arrive()
        parts = [item.message async for item in request]
        return msg(message="".join(parts))

    @action()
    async def Unary(self, request, context):
        await _orm()
        ARRIVED.arrive()
        await asyncio.sleep(TIMEOUT * 3)
        return msg()

    @action()
    async def Count(self, request, context):
        return msg(count=await _orm())

    @action()
    def SyncCount(self, request, context):
        from testapp.models import Item

        return msg(count=Item.objects.count())

    @action()
    def Together(self, request, context):
        """Returns once `request.count` calls are running at the same time (a barrier)."""
        BARRIER[0].wait(timeout=TIMEOUT)
        return msg(message="together")


SERVICES: dict[str, type] = {"hardening.Orm": OrmService}


def hardening_hook(server: Any) -> None:
    from testproject.handlers import grpc_handlers

    grpc_handlers(server)
    for name, service_class in SERVICES.items():
        add_service(server, name, service_class)


# 1,000 cancellations in a few seconds on one connection are "rapid resets": grpc core then refuses
# new streams past the per-connection limit (REFUSED_STREAM) for a moment even though no RPC is
# active on the server. Not the subject of these tests: the limit is raised for them.
STREAMS_PER_CONNECTION = [("grpc.max_concurrent_streams", 100_000)]


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, pb: Any) -> Iterator[LiveServer]:
    with LiveServer(backend=request.param, handlers_hook=hardening_hook, max_workers=WORKERS, health=False,
                    server_options=STREAMS_PER_CONNECTION) as live:
        yield live


@pytest.fixture
def client(served: LiveServer) -> Client:
    ARRIVED.reset()
    return Client(served.channel(), SERVICES)


def rpc_threads() -> list[threading.Thread]:
    """Threads an `async def` RPC of the thread-pool backend owns for its ORM calls."""
    return [thread for thread in threading.enumerate() if thread.name.startswith("grpc-rpc")]


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.01)


def assert_capacity_intact(client: Client, backend: str) -> None:
    """Every worker is free (WORKERS blocking `def` calls meet at a barrier), `def` and async ORM
    calls answer, and (thread-pool backend) no RPC thread was left behind."""
    BARRIER[:] = [threading.Barrier(WORKERS)]
    together = client("hardening.Orm", "Together")
    futures = [together.future(msg(), timeout=TIMEOUT) for _ in range(WORKERS)]
    assert [future.result().message for future in futures] == ["together"] * WORKERS
    assert client("hardening.Orm", "Count")(msg(), timeout=TIMEOUT).count >= 0
    assert client("hardening.Orm", "SyncCount")(msg(), timeout=TIMEOUT).count >= 0
    if backend == "threads":
        wait_until(lambda: not rpc_threads(), "the RPC threads of cancelled calls ended")


def expect_code(call: Callable[[], Any], code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == code, info.value


# --------------------------------------------------------------------------- item 1: cancelled ORM streams

CANCELLATIONS = 250  # per shape: 1,000 cancellations in all (the figure), per backend


def _cancel_server_streams(client: Client) -> None:
    method = client("hardening.Orm", "ServerStream")
    for _ in range(CANCELLATIONS // WORKERS):
        calls = [method(msg(), timeout=TIMEOUT) for _ in range(WORKERS)]
        assert [next(call).count for call in calls] == [0] * WORKERS  # past its ORM call, streaming
        for call in calls:
            call.cancel()


def _cancel_bidi(client: Client) -> None:
    method = client("hardening.Orm", "Bidi")
    for _ in range(CANCELLATIONS // WORKERS):
        calls = [method(iter([msg(message="flood", count=7)]), timeout=TIMEOUT) for _ in range(WORKERS)]
        assert [next(call).count for call in calls] == [7] * WORKERS
        for call in calls:
            call.cancel()


def _cancel_client_streams(client: Client) -> None:
    method = client("hardening.Orm", "ClientStream")
    for _ in range(CANCELLATIONS // WORKERS):
        ARRIVED.reset()
        stop = threading.Event()
        futures = [method.future(_endless_requests(stop), timeout=TIMEOUT) for _ in range(WORKERS)]
        ARRIVED.arrived(WORKERS)
        for future in futures:
            future.cancel()
        stop.set()


def _cancel_unary(client: Client) -> None:
    method = client("hardening.Orm", "Unary")
    for _ in range(CANCELLATIONS // WORKERS):
        ARRIVED.reset()
        futures = [method.future(msg(), timeout=TIMEOUT) for _ in range(WORKERS)]
        ARRIVED.arrived(WORKERS)
        for future in futures:
            future.cancel()


def _endless_requests(stop: threading.Event) -> Iterator[Any]:
    """A client stream that does not half-close until `stop` is set (or TIMEOUT)."""
    for _ in range(3):
        yield msg(message="x")
    stop.wait(TIMEOUT)


@pytest.fixture
def asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """What asyncio logged ("Task exception was never retrieved", ...), after a collection."""
    caplog.set_level(logging.ERROR, logger="asyncio")

    def errors() -> list[str]:
        gc.collect()
        return [record.getMessage() for record in caplog.records if record.name == "asyncio"]

    yield errors


def test_cancelled_orm_streams_leave_the_pool_intact(transactional_db, served, client, asyncio_errors):
    """1,000 cancellations of `async def` calls that used the ORM (server, bidi and client streams,
    unary), WORKERS at a time: afterwards every worker is free, `def` and async ORM calls
    answer, and asyncio reported no unretrieved task exception."""
    backend = served.options.backend
    _cancel_server_streams(client)
    _cancel_bidi(client)
    _cancel_client_streams(client)
    _cancel_unary(client)
    assert_capacity_intact(client, backend)
    assert asyncio_errors() == []


def test_expired_orm_streams_leave_the_pool_intact(transactional_db, served, client, asyncio_errors):
    """The same for deadlines: streams that used the ORM and are still sending to a client that
    stopped reading, WORKERS at a time (each holds its RPC's ORM thread while it streams)."""
    requests = {"ServerStream": lambda: msg(), "Bidi": lambda: iter([msg(message="flood")])}
    for method, request in requests.items():
        calls = [client("hardening.Orm", method)(request(), timeout=1.0) for _ in range(WORKERS)]
        assert [next(call).count for call in calls] == [0] * WORKERS
        # Not read any further: the server fills the flow-control window and waits to send.
        assert [call.code() for call in calls] == [grpc.StatusCode.DEADLINE_EXCEEDED] * WORKERS
    assert_capacity_intact(client, served.options.backend)
    assert asyncio_errors() == []

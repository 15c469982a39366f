"""pytest fixtures for projects served by hybrid-server (the package's `pytest11` entry point).

- `hybrid_server`: a `LiveServer` (a real server in this process, gRPC and HTTP on 127.0.0.1
  port 0: `.grpc_target`, `.http_url`, `.channel()`, `.aio_channel()`, `.stub(StubClass)`),
  module scope by default (ini option `hybrid_server_scope`); its `Options` fields come from
  the `hybrid_server_options` fixture (override it: `{"backend": "threads"}`).
- `grpc_channel`: a `grpc.Channel` to it, closed after the test.
- `grpc_stub`: `grpc_stub(StubClass)`, a stub on `grpc_channel`, or, called inside an async
  test, on a `grpc.aio` channel of the test's loop; a failed call's `grpc.RpcError` carries what
  the server logged during it.
- `hybrid_http`: an `httpx.Client` on the HTTP side.

With pytest-django: the server starts once the test databases exist; during a test that uses
it, in-memory SQLite connections are shared with the server's threads, so `db` (a transaction
rolled back after the test) and `transactional_db` both work there; other databases need
`transactional_db` (a warning says so). A failed test that used a server gets what the server
logged during it (exceptions with their tracebacks) under its error. Nothing here runs, and
nothing is imported beyond this module, unless a test uses these fixtures.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hybrid_server.testing.serverlog import SERVER_LOG, describe, explain, is_explained

_MARK = pytest.StashKey[int]()
_SCOPE_OPTION = "hybrid_server_scope"


class HybridServerWarning(UserWarning):
    """A test set-up with which the server cannot see what the test expects."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(_SCOPE_OPTION, "scope of the hybrid_server fixture (default: module)", default="module")


def _scope(fixture_name: str, config: pytest.Config) -> Any:
    return config.getini(_SCOPE_OPTION) or "module"


def _uses_django(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("django")


@pytest.fixture(scope=_scope)
def hybrid_server_options() -> dict[str, Any]:
    """`Options` fields of the `hybrid_server` fixture; override this fixture to change them."""
    return {}


@pytest.fixture(scope=_scope)
def hybrid_server(request: pytest.FixtureRequest, hybrid_server_options: dict[str, Any]) -> Iterator[Any]:
    """A live server for the tests of this module (by default)."""
    from hybrid_server.testing.live import LiveServer
    from hybrid_server.testing.testcase import allow_local_hosts

    unblocked: Any = contextlib.nullcontext()
    if _uses_django(request.config):
        request.getfixturevalue("django_db_setup")  # the hook and the server see the test databases
        unblocked = request.getfixturevalue("django_db_blocker").unblock()
    hosts = allow_local_hosts()
    try:
        with unblocked:
            server = LiveServer(**{"http_address": "127.0.0.1:0", **hybrid_server_options}).start()
    except BaseException:
        hosts.disable()
        raise
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            hosts.disable()


@pytest.fixture(autouse=True)
def _hybrid_server_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Inert unless the test uses `hybrid_server`: then the test's in-memory SQLite connections
    are the server's too for the test's duration."""
    if "hybrid_server" not in request.fixturenames:
        yield
        return
    if _uses_django(request.config):
        request.getfixturevalue("django_db_setup")
    from hybrid_server.testing.database import shared_connections, unshared_aliases

    with shared_connections():
        if _uses_django(request.config) and _rolled_back(request) and unshared_aliases():
            warnings.warn(
                HybridServerWarning(
                    f"database(s) {', '.join(unshared_aliases())} are not in-memory SQLite: the server's threads do "
                    "not see rows this test creates inside its transaction (the `db` fixture); use `transactional_db` "
                    "or @pytest.mark.django_db(transaction=True)"
                ),
                stacklevel=1,
            )
        yield


def _rolled_back(request: pytest.FixtureRequest) -> bool:
    """The test runs inside a transaction that is rolled back (pytest-django's `db`)."""
    names = request.fixturenames
    if "transactional_db" in names or "live_server" in names:
        return False
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        return not (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    return "db" in names


@pytest.fixture
def grpc_channel(hybrid_server: Any) -> Iterator[Any]:
    """A `grpc.Channel` to `hybrid_server`, closed after the test."""
    import grpc

    channel = grpc.insecure_channel(hybrid_server.grpc_target)
    yield channel
    channel.close()


@pytest.fixture
def grpc_stub(hybrid_server: Any, grpc_channel: Any) -> Iterator[Callable[[Any], Any]]:
    """`grpc_stub(StubClass)`: a stub whose failed calls explain themselves."""
    import asyncio

    from hybrid_server.testing.stubs import close_aio_channel, explaining_stub

    aio_channels: list[tuple[Any, Any]] = []

    def make(stub_class: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return explaining_stub(stub_class, grpc_channel)
        channel = hybrid_server.aio_channel()
        aio_channels.append((channel, loop))
        return explaining_stub(stub_class, channel)

    yield make
    for channel, loop in aio_channels:
        close_aio_channel(channel, loop)


@pytest.fixture
def hybrid_http(hybrid_server: Any) -> Iterator[Any]:
    """An `httpx.Client` on `hybrid_server`'s HTTP side."""
    import httpx

    with httpx.Client(base_url=hybrid_server.http_url, timeout=30) as client:
        yield client


# --------------------------------------------------------------------------- failures explained


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_MARK] = SERVER_LOG.mark()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Before the report is made: the failure gets what the server logged since the test began
    (as a note; where a note cannot be added, as a section of the report)."""
    mark = item.stash.get(_MARK, None)
    excinfo = call.excinfo
    noted = False
    if mark is not None and excinfo is not None and not excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        noted = is_explained(excinfo.value) or explain(excinfo.value, mark, "this test")
    outcome: Any = yield
    if mark is None or noted or excinfo is None:
        return
    report = outcome.get_result()
    entries = SERVER_LOG.since(mark)
    if report.failed and entries:
        report.sections.append(("hybrid-server: the server's log", describe(entries, "this test")))

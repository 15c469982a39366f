"""The test's database connections, seen by the live server's threads.

Django's `LiveServerTestCase` hands the server thread the test's connection to every in-memory
SQLite database: such a database lives in its connection, and sharing it spares the
"table is locked" errors of SQLite's shared cache. A hybrid server runs user code in many
threads (the gRPC workers, the bridge loop, the ORM pool, a thread per Django request), so
`shared_connections()` makes `django.db.connections[alias]` return the test's connection in
*every* thread while it is active (it stands in for the handler's thread-local storage), with
thread sharing allowed on the connection.

What it gives: the RPCs and Django views of a test use the test's own connection, so they see
rows the test created even inside `TestCase`'s transaction, and what they write is rolled back
with it. Other databases (PostgreSQL, file-backed SQLite test databases) are not shared, as in
Django: each server thread has its own connection, which sees committed rows only — use
`TransactionTestCase` (`HybridTestCase` is one) or pytest-django's `transactional_db` there.
Concurrent RPCs of one test share the connection too: fine for queries, but two at once in
`transaction.atomic()` blocks interleave their savepoints. While sharing, Django's
`close_old_connections` (run at every request's start and end, RPCs included) leaves the shared
connections alone, as Django's test client does; the others it handles as usual.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_guard = threading.Lock()
_installed: dict[str, Any] = {}  # while shared: "storage", "local", "depth"


class _SharedStorage:
    """Stands in for `ConnectionHandler._connections`: the shared aliases are the same object in
    every thread, the others stay per thread."""

    def __init__(self, local: Any) -> None:
        object.__setattr__(self, "_local", local)
        object.__setattr__(self, "shared", {})

    def __getattr__(self, alias: str) -> Any:
        shared = object.__getattribute__(self, "shared")
        if alias in shared:
            return shared[alias]
        return getattr(object.__getattribute__(self, "_local"), alias)

    def __setattr__(self, alias: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_local"), alias, value)

    def __delattr__(self, alias: str) -> None:
        delattr(object.__getattribute__(self, "_local"), alias)


def shareable_connections() -> dict[str, Any]:
    """The connections of this thread that a live server shares: in-memory SQLite ones."""
    from django.db import connections

    return {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }


def unshared_aliases() -> list[str]:
    """Databases whose rows a live server sees only once committed."""
    from django.db import connections

    shared = shareable_connections()
    return [alias for alias in connections if alias not in shared]


def _close_old_unshared_connections(**kwargs: Any) -> None:
    """Django's `close_old_connections` for the connections that are not shared. A shared
    in-memory connection is never closed anyway, and checking it would touch the database in
    requests of tests that may not (pytest-django's blocker), as Django's test client knows."""
    from django.db import connections

    storage = _installed.get("storage")
    shared = object.__getattribute__(storage, "shared") if storage is not None else {}
    for conn in connections.all(initialized_only=True):
        if conn.alias not in shared:
            conn.close_if_unusable_or_obsolete()


def _install() -> Any:
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connections

    local = connections._connections
    storage = _SharedStorage(local)
    connections._connections = storage
    swapped = [signal for signal in (request_started, request_finished) if signal.disconnect(close_old_connections)]
    for signal in swapped:
        signal.connect(_close_old_unshared_connections)
    _installed.update(storage=storage, local=local, depth=0, swapped=swapped)
    return storage


def _uninstall() -> None:
    from django.db import close_old_connections, connections

    if connections._connections is _installed["storage"]:
        connections._connections = _installed["local"]
    for signal in _installed["swapped"]:
        signal.disconnect(_close_old_unshared_connections)
        signal.connect(close_old_connections)
    _installed.clear()


@contextmanager
def shared_connections() -> Iterator[dict[str, Any]]:
    """Share this thread's in-memory SQLite connections with every thread while active (nested
    uses share the same storage; the outermost one installs and removes it)."""
    shared = shareable_connections()
    for conn in shared.values():
        conn.inc_thread_sharing()
    with _guard:
        storage = _installed.get("storage") or _install()
        _installed["depth"] += 1
        mine = object.__getattribute__(storage, "shared")
        added = [alias for alias in shared if alias not in mine]
        mine.update((alias, shared[alias]) for alias in added)
    try:
        yield shared
    finally:
        with _guard:
            for alias in added:
                mine.pop(alias, None)
            _installed["depth"] -= 1
            if _installed["depth"] == 0:
                _uninstall()
        for conn in shared.values():
            conn.dec_thread_sharing()

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
`transaction.atomic()` blocks interleave their savepoints.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_guard = threading.Lock()
_active: list[_SharedStorage] = []


class _SharedStorage:
    """Stands in for `ConnectionHandler._connections`: the shared aliases are the same object in
    every thread, the others stay per thread."""

    def __init__(self, local: Any, shared: dict[str, Any]) -> None:
        object.__setattr__(self, "_local", local)
        object.__setattr__(self, "_shared", shared)

    def __getattr__(self, alias: str) -> Any:
        shared = object.__getattribute__(self, "_shared")
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


@contextmanager
def shared_connections() -> Iterator[dict[str, Any]]:
    """Share this thread's in-memory SQLite connections with every thread while active (nested
    uses are fine: the outermost one installs and removes the storage)."""
    from django.db import connections

    shared = shareable_connections()
    for conn in shared.values():
        conn.inc_thread_sharing()
    with _guard:
        storage = _SharedStorage(connections._connections, shared)
        connections._connections = storage
        _active.append(storage)
    try:
        yield shared
    finally:
        with _guard:
            _active.remove(storage)
            # Undo in any order: rebuild the chain of what is still active over the original.
            local = object.__getattribute__(storage, "_local")
            for other in _active:
                if object.__getattribute__(other, "_local") is storage:
                    object.__setattr__(other, "_local", local)
            if connections._connections is storage:
                connections._connections = local
        for conn in shared.values():
            conn.dec_thread_sharing()

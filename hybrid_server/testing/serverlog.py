"""What the server logged while a test ran, so that a failing test shows the server's side.

A live server's errors are logged in its own threads: the exception behind an UNKNOWN status
(with its traceback) on `django_socio_grpc.request`, an interceptor's on `hybrid_server.grpc`,
a Django view's on `django.request`. `SERVER_LOG` keeps those records (WARNING and above, as
text: no traceback keeps frames alive) while at least one `LiveServer` runs, and `explain()`
adds the ones since a mark to an exception as a note, which tracebacks, unittest and pytest show
under the exception. The status code and details the client saw are in the `grpc.RpcError`'s
own message.
"""
from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

# Where the server side writes its errors (records of their children propagate here).
SERVER_LOGGERS = ("django_socio_grpc", "hybrid_server", "django.request", "uvicorn.error")
EXPLAINED = "_hybrid_server_explained"
_MAX_ENTRIES = 200
_MAX_NOTE = 20_000


@dataclass(frozen=True)
class Entry:
    number: int
    logger: str
    level: int
    text: str  # the formatted record, traceback included
    has_traceback: bool


class ServerLog(logging.Handler):
    """A handler on the server-side loggers while servers run (`acquire`/`release` count them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s [%(threadName)s]: %(message)s"))
        self._entries: deque[Entry] = deque(maxlen=_MAX_ENTRIES)
        self._count = 0
        self._users = 0
        self._guard = threading.Lock()

    # ------------------------------------------------------------------ attached while used

    def acquire(self) -> None:
        with self._guard:
            self._users += 1
            if self._users == 1:
                for name in SERVER_LOGGERS:
                    logging.getLogger(name).addHandler(self)

    def release(self) -> None:
        with self._guard:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                for name in SERVER_LOGGERS:
                    logging.getLogger(name).removeHandler(self)

    @property
    def active(self) -> bool:
        return self._users > 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not break the server
            text = f"{record.levelname} {record.name}: {record.msg!r}"
        with self._guard:
            self._count += 1
            self._entries.append(Entry(self._count, record.name, record.levelno, text, record.exc_info is not None))

    # ------------------------------------------------------------------ reading

    def mark(self) -> int:
        """A position: `since(mark)` returns what was logged after it."""
        with self._guard:
            return self._count

    def since(self, mark: int) -> list[Entry]:
        with self._guard:
            return [entry for entry in self._entries if entry.number > mark]


SERVER_LOG = ServerLog()


def is_explained(exc: BaseException) -> bool:
    return bool(getattr(exc, EXPLAINED, False))


def describe(entries: list[Entry], what: str) -> str:
    """The note text: the server's records, tracebacks first in mind (the last ones win if long)."""
    body = "\n".join(entry.text for entry in entries)
    if len(body) > _MAX_NOTE:
        body = "...\n" + body[-_MAX_NOTE:]
    return f"--- the server logged during {what} ---\n{body}\n--- end of the server's log ---"


def status_line(exc: BaseException) -> str:
    """`status UNKNOWN, details 'ZeroDivisionError'` for an RpcError (empty for anything else)."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if not callable(code) or not callable(details):
        return ""
    try:
        status = code()
        return f"The client saw status {getattr(status, 'name', status)}, details {details()!r}."
    except Exception:  # a call whose status is not known (yet)
        return ""


def explain(exc: BaseException, mark: int, what: str = "this call") -> bool:
    """Add what the server logged since `mark` to `exc` (once); True if something was added."""
    if is_explained(exc):
        return False
    entries = SERVER_LOG.since(mark)
    if not entries:
        return False
    status = status_line(exc)
    note = (status + "\n" if status else "") + describe(entries, what)
    return _add_note(exc, note)


def _add_note(exc: BaseException, note: str) -> bool:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # no notes before 3.11: `__notes__` is kept as 3.11 keeps it, and the message grows
        try:
            exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]
        except AttributeError:
            return False
        try:  # through a subclass of the same name,
            exc.__class__ = _noted_class(type(exc))
            exc._hybrid_server_note = note  # type: ignore[attr-defined]
        except TypeError:  # or, for a built-in exception (whose class cannot change), in its args
            exc.args = (f"{exc.args[0]}\n{note}" if exc.args else note, *exc.args[1:])
    try:
        setattr(exc, EXPLAINED, True)
    except AttributeError:
        pass
    return True


_NOTED: dict[type, type] = {}


def _noted_class(cls: type) -> type:
    noted = _NOTED.get(cls)
    if noted is None:
        base: Any = cls

        def __str__(self: Any) -> str:
            return f"{base.__str__(self)}\n{self._hybrid_server_note}"

        noted = type(cls.__name__, (cls,), {"__str__": __str__, "__module__": cls.__module__, "__qualname__": cls.__qualname__})
        _NOTED[cls] = noted
    return noted

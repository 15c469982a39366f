"""What an RPC ends with when something raised: the one exception -> status mapping.

Every exception is mapped once, where it leaves the action or its hooks (the terminal
boundary), or where it leaves a response stream: it becomes an `Aborted` whose `__cause__` is
the original, so middlewares and `on_stream_end` callbacks see the final status (`code`,
`details`, `trailing_metadata`) and whether it was `unexpected`. Unexpected errors are logged
once with their traceback: by whoever logs the call first (the access log marks `logged`),
else by the envelope that ends the RPC. Anything not in the table is UNKNOWN with only the
exception's class name, so no internals reach the client outside DEBUG.

The details of every handled exception are JSON, as django-socio-grpc sends them:
`json.dumps(exc.get_full_details())`, `{"message": ..., "code": ...}` (lists and dicts of those
for validation errors). Django REST framework's `APIException`s map by their HTTP status when DRF
is in use; DRF is never imported here (an instance can only exist once DRF has been imported).
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import grpc
from django.conf import settings
from django.core import exceptions as django_exceptions
from django.http import Http404

from django_socio_grpc.exceptions import GRPCException
from hybrid_server.containment import EscapedExit
from hybrid_server.grpc.guard import UndecodableRequest

logger = logging.getLogger("django_socio_grpc.request")


class Aborted(Exception):
    """An RPC's final status, raised instead of grpc's own abort error where that cannot be
    raised (`context.abort()` of our context adapters), or made by `map_exception`."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Any = (),
        unexpected: bool = False,
        logging_level: int | None = None,
    ) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata
        self.unexpected = unexpected  # not a status anyone chose: logged with its traceback
        # The request log's level for this error (a GRPCException's `logging_level`); None: by code.
        self.logging_level = logging_level
        self.logged = False

    @property
    def origin(self) -> BaseException:
        """What was raised in the first place (the mapped exception, or this one)."""
        return self.__cause__ or self


class RpcOver(RuntimeError):
    """The RPC has ended; its grpc.aio context must not be touched from a worker thread."""


class ClientCancelled(Aborted):
    """What a request stream raises when the client cancelled the call (or its deadline ended)
    instead of half-closing it, so that an action cannot take a cut upload for a finished one.
    Left to propagate, it ends the RPC as CANCELLED (which the client has already seen)."""

    def __init__(self, details: str = "the client cancelled the call") -> None:
        super().__init__(grpc.StatusCode.CANCELLED, details, logging_level=logging.INFO)


def passes(exc: BaseException) -> bool:
    """True for what keeps its meaning instead of becoming a status: a generator being closed,
    and the cancellation of the running task (the client went away, a deadline, the end of the
    grace period). A `CancelledError` that user code raises while its task is not being
    cancelled (on Python 3.10, which cannot tell, every one passes) and every other
    `BaseException` (SystemExit, KeyboardInterrupt, ...) fail the call like an exception."""
    if isinstance(exc, GeneratorExit):
        return True
    if not isinstance(exc, asyncio.CancelledError):
        return False
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a worker thread, where nobody cancels
        return False
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0


# Statuses that are already final: never mapped again. `grpc.aio.AbortError` comes from grpc.aio's
# own `context.abort()`; the code and details are then on the context.
FINAL = (Aborted, grpc.aio.AbortError)
ABORT_ERROR = grpc.aio.AbortError


# Django REST framework's HTTP statuses -> gRPC (django-socio-grpc's documented mapping).
HTTP_TO_GRPC: dict[int, grpc.StatusCode] = {
    http: getattr(grpc.StatusCode, name)
    for name, codes in {
        "INVALID_ARGUMENT": (400, 406, 411, 413, 414, 415, 417, 422, 431),
        "UNAUTHENTICATED": (401, 511),
        "PERMISSION_DENIED": (403, 451),
        "NOT_FOUND": (404, 410),
        "UNIMPLEMENTED": (405, 501, 505),
        "DEADLINE_EXCEEDED": (408, 504),
        "ABORTED": (409,),
        "FAILED_PRECONDITION": (412, 423, 424, 428),
        "OUT_OF_RANGE": (416,),
        "RESOURCE_EXHAUSTED": (429, 507),
        "INTERNAL": (500, 502),
        "UNAVAILABLE": (503,),
    }.items()
    for http in codes
}


def _json(message: object, code: str) -> str:
    return json.dumps({"message": str(message), "code": code})


def _validation_details(exc: django_exceptions.ValidationError) -> str:
    """A Django ValidationError as DRF would send it: messages with codes, by field if any."""

    def entries(errors: list[django_exceptions.ValidationError]) -> list[dict[str, Any]]:
        return [
            {"message": str(error.message % error.params if error.params else error.message), "code": error.code or "invalid"}
            for error in errors
        ]

    if hasattr(exc, "error_dict"):
        return json.dumps({field: entries(errors) for field, errors in exc.error_dict.items()})
    return json.dumps(entries(exc.error_list))


def _level(name: object) -> int:
    """A `logging_level` ("WARNING", or a number) as a level; WARNING when it is not one."""
    if isinstance(name, int):
        return name
    level = logging.getLevelName(str(name).upper())
    return level if isinstance(level, int) else logging.WARNING


def _status(exc: BaseException) -> tuple[grpc.StatusCode, str, bool, int]:
    """The table: (code, details, unexpected, logging level)."""
    if isinstance(exc, EscapedExit):  # contained by the engine's task factory: say what it was
        exc = exc.original
    if isinstance(exc, GRPCException):
        return exc.status_code, json.dumps(exc.get_full_details()), False, _level(exc.logging_level)
    drf = sys.modules.get("rest_framework.exceptions")
    if drf is not None and isinstance(exc, drf.APIException):
        status = exc.status_code
        if isinstance(status, grpc.StatusCode):
            return status, json.dumps(exc.get_full_details()), False, logging.WARNING
        level = logging.WARNING if isinstance(status, int) and status < 500 else logging.ERROR
        return HTTP_TO_GRPC.get(status, grpc.StatusCode.UNKNOWN), json.dumps(exc.get_full_details()), False, level
    if isinstance(exc, (django_exceptions.ObjectDoesNotExist, Http404)):
        return grpc.StatusCode.NOT_FOUND, _json(str(exc) or "Not found.", "not_found"), False, logging.WARNING
    if isinstance(exc, django_exceptions.ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, _validation_details(exc), False, logging.WARNING
    if isinstance(exc, django_exceptions.PermissionDenied):
        message = str(exc) or "You do not have permission to perform this action."
        return grpc.StatusCode.PERMISSION_DENIED, _json(message, "permission_denied"), False, logging.WARNING
    details = type(exc).__name__
    if settings.DEBUG and str(exc):
        details = f"{details}: {exc}"
    return grpc.StatusCode.UNKNOWN, details, True, logging.ERROR


def map_exception(exc: BaseException) -> Aborted:
    """A new `Aborted` for `exc` (not itself final), with `exc` as its cause."""
    code, details, unexpected, level = _status(exc)
    error = Aborted(code, details, (), unexpected, level)
    error.__cause__ = exc
    return error


def mapped(exc: BaseException) -> BaseException:
    """`exc` as a final status: itself if final or if it `passes` (cancellation), else mapped."""
    if isinstance(exc, FINAL) or passes(exc):
        return exc
    return map_exception(exc)


def rejected(request: UndecodableRequest) -> Aborted:
    """The status for a request the guarded deserializer could not decode."""
    return Aborted(request.code, request.details)


def log_unexpected(error: Aborted, where: str) -> None:
    """Log an unexpected error with its traceback unless someone (the access log) already did."""
    if error.unexpected and not error.logged:
        error.logged = True
        logger.error("Exception in %s", where, exc_info=error.origin)


# --------------------------------------------------------------------------- ending the RPC
# The failing half of the error envelopes (see `envelope.py`), one per flavour.


async def abort_async(context: Any, exc: BaseException, where: str) -> None:
    """End an RPC of an async handler with the status of `exc`; raises (the context's abort)."""
    error = exc if isinstance(exc, Aborted) else map_exception(exc)
    log_unexpected(error, where)
    if error.trailing_metadata:
        context.set_trailing_metadata(error.trailing_metadata)
    await context.abort(error.code, error.details)


def abort_sync(context: Any, exc: BaseException, where: str) -> None:
    """The same for grpc's thread-pool server, whose `context.abort()` raises at once."""
    error = exc if isinstance(exc, Aborted) else map_exception(exc)
    log_unexpected(error, where)
    if error.trailing_metadata:
        context.set_trailing_metadata(error.trailing_metadata)
    context.abort(error.code, error.details)

"""What an RPC ends with when something raised: the one exception -> status mapping.

Every exception is mapped once, where it leaves the action or its hooks (the terminal
boundary), or where it leaves a response stream: it becomes an `Aborted` whose `__cause__` is
the original, so middlewares and `on_stream_end` callbacks see the final status (`code`,
`details`, `trailing_metadata`) and whether it was `unexpected`. Unexpected errors are logged
once with their traceback: by whoever logs the call first (the access log marks `logged`),
else by the envelope that ends the RPC. Anything not in the table is UNKNOWN with only the
exception's class name, so no internals reach the client outside DEBUG.
"""
from __future__ import annotations

import logging
from typing import Any

import grpc
from django.conf import settings
from django.core import exceptions as django_exceptions
from django.http import Http404

from django_socio_grpc.exceptions import GRPCException
from hybrid_server.grpc.guard import UndecodableRequest

logger = logging.getLogger("django_socio_grpc.request")


class Aborted(Exception):
    """An RPC's final status, raised instead of grpc's own abort error where that cannot be
    raised (`context.abort()` of our context adapters), or made by `map_exception`."""

    def __init__(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = (), unexpected: bool = False
    ) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata
        self.unexpected = unexpected  # not a status anyone chose: logged with its traceback
        self.logged = False

    @property
    def origin(self) -> BaseException:
        """What was raised in the first place (the mapped exception, or this one)."""
        return self.__cause__ or self


class RpcOver(RuntimeError):
    """The RPC has ended; its grpc.aio context must not be touched from a worker thread."""


# Statuses that are already final: never mapped again. `grpc.aio.AbortError` comes from grpc.aio's
# own `context.abort()`; the code and details are then on the context.
FINAL = (Aborted, grpc.aio.AbortError)
ABORT_ERROR = grpc.aio.AbortError


def _validation_details(exc: django_exceptions.ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def _status(exc: BaseException) -> tuple[grpc.StatusCode, str, Any, bool]:
    """The table: (code, details, trailing metadata, unexpected)."""
    if isinstance(exc, GRPCException):
        return exc.status_code, str(exc.detail), (), False
    if isinstance(exc, (django_exceptions.ObjectDoesNotExist, Http404)):
        return grpc.StatusCode.NOT_FOUND, str(exc) or "Not found.", (), False
    if isinstance(exc, django_exceptions.ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, _validation_details(exc), (), False
    if isinstance(exc, django_exceptions.PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED, str(exc) or "Permission denied.", (), False
    details = type(exc).__name__
    if settings.DEBUG and str(exc):
        details = f"{details}: {exc}"
    return grpc.StatusCode.UNKNOWN, details, (), True


def map_exception(exc: BaseException) -> Aborted:
    """A new `Aborted` for `exc` (not itself final), with `exc` as its cause."""
    code, details, trailing, unexpected = _status(exc)
    error = Aborted(code, details, trailing, unexpected)
    error.__cause__ = exc
    return error


def mapped(exc: BaseException) -> BaseException:
    """`exc` as a final status: itself if final (or not an `Exception`: cancellation, exit), else mapped."""
    if isinstance(exc, FINAL) or not isinstance(exc, Exception):
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

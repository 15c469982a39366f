"""Turning what an action raised into a gRPC status, one table for every backend."""
from __future__ import annotations

import logging
from typing import Any

import grpc
from django.conf import settings
from django.core import exceptions as django_exceptions
from django.http import Http404

from django_socio_grpc.exceptions import GRPCException

logger = logging.getLogger("django_socio_grpc.request")


class Aborted(Exception):
    """`context.abort()` called from a context where it cannot raise grpc's own error."""

    def __init__(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _validation_details(exc: django_exceptions.ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def classify(exc: BaseException) -> tuple[grpc.StatusCode, str, Any, bool]:
    """(code, details, trailing metadata, unexpected) for what an action raised.

    Anything not mapped is UNKNOWN with only the exception's class name, so no internals
    reach the client outside DEBUG.
    """
    if isinstance(exc, Aborted):
        return exc.code, exc.details, exc.trailing_metadata, False
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


def abort_code_and_details(exc: BaseException, where: str) -> tuple[grpc.StatusCode, str, Any]:
    """The status an RPC ends with when its action raised `exc`; unexpected ones are logged
    with their traceback (the client only sees the class name)."""
    code, details, trailing, unexpected = classify(exc)
    if unexpected:
        logger.error("Exception in %s", where, exc_info=exc)
    return code, details, trailing

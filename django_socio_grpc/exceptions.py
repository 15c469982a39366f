"""Exceptions a Service raises to end an RPC with a given gRPC status.

They behave like Django REST framework's `APIException`, as django-socio-grpc's do, without
needing DRF: `NotFound("Missing", "missing_code")` takes the detail and a string error code;
the gRPC status is the class attribute `status_code`; the client receives
`json.dumps(exc.get_full_details())`, e.g. `{"message": "Missing", "code": "missing_code"}`;
`logging_level` is the level of the request log's line when the exception ends an RPC.
"""
from __future__ import annotations

from typing import Any

import grpc
from django.utils.translation import gettext_lazy as _


class ErrorDetail(str):
    """A message with its error code (DRF's `ErrorDetail`): a `str` with a `code`."""

    code: str | None

    def __new__(cls, string: str, code: str | None = None) -> ErrorDetail:
        self = super().__new__(cls, string)
        self.code = code
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ErrorDetail):
            return str(self) == str(other) and self.code == other.code
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"ErrorDetail(string={str(self)!r}, code={self.code!r})"


def error_details(data: Any, default_code: str | None) -> Any:
    """`data` (a message, or lists and dicts of them) with every message an `ErrorDetail`."""
    if isinstance(data, (list, tuple)):
        return [error_details(item, default_code) for item in data]
    if isinstance(data, dict):
        return {key: error_details(value, default_code) for key, value in data.items()}
    if isinstance(data, ErrorDetail):
        return data
    return ErrorDetail(str(data), getattr(data, "code", default_code))


def full_details(detail: Any) -> Any:
    """`{"message": ..., "code": ...}` for each message, keeping the lists and dicts around them."""
    if isinstance(detail, list):
        return [full_details(item) for item in detail]
    if isinstance(detail, dict):
        return {key: full_details(value) for key, value in detail.items()}
    return {"message": str(detail), "code": getattr(detail, "code", None)}


def _codes(detail: Any) -> Any:
    if isinstance(detail, list):
        return [_codes(item) for item in detail]
    if isinstance(detail, dict):
        return {key: _codes(value) for key, value in detail.items()}
    return getattr(detail, "code", None)


class GRPCException(Exception):
    """Base class: the RPC ends with `status_code`, its details the JSON of `get_full_details()`.

    Subclasses set `status_code`, `default_detail`, `default_code` and, if they like,
    `logging_level` ("DEBUG", "INFO", "WARNING", "ERROR" or "CRITICAL").
    """

    status_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_detail: Any = _("A server error occurred.")
    default_code: str = "error"
    logging_level: str = "WARNING"

    def __init__(self, detail: Any = None, code: str | None = None) -> None:
        if isinstance(code, grpc.StatusCode):
            raise TypeError(
                f"{type(self).__name__}(detail, code): `code` is a string error code, as in Django REST "
                f"framework; the gRPC status is the class attribute `status_code` (subclass {type(self).__name__} "
                f"and set `status_code = {code}`)"
            )
        self.detail = error_details(self.default_detail if detail is None else detail,
                                    self.default_code if code is None else code)
        super().__init__(self.detail)

    def __str__(self) -> str:
        return str(self.detail)

    def get_codes(self) -> Any:
        """The error code(s), shaped like `detail`."""
        return _codes(self.detail)

    def get_full_details(self) -> Any:
        """Message and code of each detail, shaped like `detail`: what the client receives, as JSON."""
        return full_details(self.detail)


class Unauthenticated(GRPCException):
    status_code = grpc.StatusCode.UNAUTHENTICATED
    default_detail = _("Authentication credentials were not provided.")
    default_code = "not_authenticated"


class PermissionDenied(GRPCException):
    status_code = grpc.StatusCode.PERMISSION_DENIED
    default_detail = _("You do not have permission to perform this action.")
    default_code = "permission_denied"


class NotFound(GRPCException):
    status_code = grpc.StatusCode.NOT_FOUND
    default_detail = _("Not found.")
    default_code = "not_found"


class AlreadyExist(GRPCException):
    status_code = grpc.StatusCode.ALREADY_EXISTS
    default_detail = _("Already exists.")
    default_code = "already_exist"


AlreadyExists = AlreadyExist


class InvalidArgument(GRPCException):
    status_code = grpc.StatusCode.INVALID_ARGUMENT
    default_detail = _("Invalid argument.")
    default_code = "invalid_argument"


class Unimplemented(GRPCException):
    status_code = grpc.StatusCode.UNIMPLEMENTED
    default_detail = _("Unimplemented.")
    default_code = "unimplemented"


# Not in django-socio-grpc: two more statuses a service commonly needs.
class Unavailable(GRPCException):
    status_code = grpc.StatusCode.UNAVAILABLE
    default_detail = _("The service is unavailable.")
    default_code = "unavailable"


class ResourceExhausted(GRPCException):
    status_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_detail = _("Resource exhausted.")
    default_code = "resource_exhausted"


class ProtobufGenerationException(Exception):
    """A service or action cannot be turned into a valid .proto file."""


class RegistrationError(Exception):
    """`AppHandlerRegistry` cannot wire a service; the message says what to fix."""

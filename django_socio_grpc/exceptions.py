"""Exceptions a Service raises to end an RPC with a given gRPC status."""
from __future__ import annotations

import grpc


class GRPCException(Exception):
    """Base class: the RPC ends with `status_code` and `detail` as its details."""

    status_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_detail: str = "A server error occurred."

    def __init__(self, detail: object = None, status_code: grpc.StatusCode | None = None) -> None:
        self.detail = self.default_detail if detail is None else detail
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.detail)

    def __str__(self) -> str:
        return str(self.detail)


class NotFound(GRPCException):
    status_code = grpc.StatusCode.NOT_FOUND
    default_detail = "Not found."


class InvalidArgument(GRPCException):
    status_code = grpc.StatusCode.INVALID_ARGUMENT
    default_detail = "Invalid argument."


class PermissionDenied(GRPCException):
    status_code = grpc.StatusCode.PERMISSION_DENIED
    default_detail = "You do not have permission to perform this action."


class Unauthenticated(GRPCException):
    status_code = grpc.StatusCode.UNAUTHENTICATED
    default_detail = "Authentication credentials were not provided or are invalid."


class AlreadyExist(GRPCException):
    status_code = grpc.StatusCode.ALREADY_EXISTS
    default_detail = "The object already exists."


AlreadyExists = AlreadyExist


class Unimplemented(GRPCException):
    status_code = grpc.StatusCode.UNIMPLEMENTED
    default_detail = "This action is not implemented."


class Unavailable(GRPCException):
    status_code = grpc.StatusCode.UNAVAILABLE
    default_detail = "The service is unavailable."


class ResourceExhausted(GRPCException):
    status_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_detail = "Resource exhausted."


class ProtobufGenerationException(Exception):
    """A service or action cannot be turned into a valid .proto file."""


class RegistrationError(Exception):
    """`AppHandlerRegistry` cannot wire a service; the message says what to fix."""

"""Status codes and deadlines as the HTTP protocols spell them.

Connect names each gRPC code in snake case (`cancelled` is spelled `canceled`) and maps it to
an HTTP status for unary responses and errors sent before a stream starts; gRPC-Web carries the
number in `grpc-status` with a percent-encoded `grpc-message`. Deadlines arrive as
`connect-timeout-ms: <digits>` or `grpc-timeout: <digits><unit>`.
"""
from __future__ import annotations

from urllib.parse import quote, unquote

from grpc import StatusCode

CONNECT_NAMES: dict[StatusCode, str] = {
    code: ("canceled" if code is StatusCode.CANCELLED else code.name.lower()) for code in StatusCode
}
CODES_BY_CONNECT_NAME = {name: code for code, name in CONNECT_NAMES.items()}

# connectrpc.com/docs/protocol#error-codes
HTTP_STATUS: dict[StatusCode, int] = {
    StatusCode.OK: 200,
    StatusCode.CANCELLED: 499,
    StatusCode.UNKNOWN: 500,
    StatusCode.INVALID_ARGUMENT: 400,
    StatusCode.DEADLINE_EXCEEDED: 504,
    StatusCode.NOT_FOUND: 404,
    StatusCode.ALREADY_EXISTS: 409,
    StatusCode.PERMISSION_DENIED: 403,
    StatusCode.RESOURCE_EXHAUSTED: 429,
    StatusCode.FAILED_PRECONDITION: 400,
    StatusCode.ABORTED: 409,
    StatusCode.OUT_OF_RANGE: 400,
    StatusCode.UNIMPLEMENTED: 501,
    StatusCode.INTERNAL: 500,
    StatusCode.UNAVAILABLE: 503,
    StatusCode.DATA_LOSS: 500,
    StatusCode.UNAUTHENTICATED: 401,
}

_MAX_TIMEOUT_DIGITS = 8  # both protocols: at most 8 digits (10 for connect-timeout-ms, kept at 10)
_GRPC_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# grpc-message: printable ASCII except '%' goes as is (gRPC over HTTP/2, "Responses").
_MESSAGE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class ProtocolError(Exception):
    """A request the protocol refuses before any method runs: `code` and a message for the client."""

    def __init__(self, code: StatusCode, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status  # None: the code's own (Connect), or 200 + status (gRPC-Web)


def connect_timeout(value: str) -> float:
    """`connect-timeout-ms` in seconds."""
    if not value.isdigit() or len(value) > 10:
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, f"protocol error: invalid connect-timeout-ms {value!r}")
    return int(value) / 1000.0


def grpc_timeout(value: str) -> float:
    """`grpc-timeout` (e.g. `1500m`, `2S`) in seconds."""
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > _MAX_TIMEOUT_DIGITS or unit not in _GRPC_UNITS:
        raise ProtocolError(StatusCode.INVALID_ARGUMENT, f"protocol error: invalid grpc-timeout {value!r}")
    return int(digits) * _GRPC_UNITS[unit]


def encode_grpc_message(details: str) -> str:
    return quote(details, safe=_MESSAGE_SAFE)


def decode_grpc_message(value: str) -> str:
    return unquote(value)

"""CORS for the RPC routes, off unless `CORS_ALLOWED_ORIGINS` lists origins ("*": any).

A preflight `OPTIONS` from an allowed origin is answered 204 with the Connect and gRPC-Web
request headers allowed (and whatever else the page asks to send: its origin is trusted); a
call from an allowed origin gets `Access-Control-Allow-Origin` and exposes the protocol's
response headers plus the metadata headers of that response, so a page can read them.
Credentials (cookies) are not allowed cross-origin.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hybrid_server.http.rpc.calls import Send

ALLOWED_HEADERS = (
    "content-type", "connect-protocol-version", "connect-timeout-ms", "connect-content-encoding",
    "connect-accept-encoding", "content-encoding", "accept-encoding", "grpc-timeout", "grpc-encoding",
    "grpc-accept-encoding", "x-grpc-web", "x-user-agent",
)
EXPOSED_HEADERS = (
    "grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding", "connect-content-encoding",
    "content-encoding",
)
_STANDARD = frozenset({b"content-type", b"content-length", b"connection", b"vary"})
MAX_AGE = b"7200"


class Cors:
    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origin.rstrip("/") for origin in origins)
        self.any = "*" in self.origins

    def allows(self, origin: str) -> bool:
        return self.any or origin in self.origins

    async def preflight(self, origin: str, headers: dict[str, str], send: Send) -> None:
        if not self.allows(origin):
            body = b"Origin not allowed.\n"
            await send({"type": "http.response.start", "status": 403, "headers": [
                (b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()), (b"vary", b"origin")]})
            await send({"type": "http.response.body", "body": body})
            return
        requested = [name.strip().lower() for name in headers.get("access-control-request-headers", "").split(",")]
        allowed = list(ALLOWED_HEADERS) + [name for name in requested if name and name not in ALLOWED_HEADERS]
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"POST, GET"),
            (b"access-control-allow-headers", ", ".join(allowed).encode("latin-1")),
            (b"access-control-max-age", MAX_AGE),
            (b"vary", b"origin, access-control-request-method, access-control-request-headers"),
            (b"content-length", b"0"),
        ]})
        await send({"type": "http.response.body", "body": b""})

    def wrap(self, origin: str, send: Send) -> Send:
        """`send` adding the CORS response headers, for a call from an allowed origin."""
        allow = origin.encode("latin-1")

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                exposed = list(EXPOSED_HEADERS)
                exposed += [name.decode("latin-1") for name, _ in headers
                            if name not in _STANDARD and name.decode("latin-1") not in exposed]
                headers += [
                    (b"access-control-allow-origin", allow),
                    (b"access-control-expose-headers", ", ".join(exposed).encode("latin-1")),
                    (b"vary", b"origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        return send_with_cors

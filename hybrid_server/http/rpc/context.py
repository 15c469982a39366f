"""`HttpRpcContext`: the servicer context of a Connect or gRPC-Web call.

It implements `hybrid_server.grpc.context.RpcContext` over one HTTP request, the way grpc.aio's
context behaves where an action can tell: `abort()` records the status and raises
`grpc.aio.AbortError`; `set_code`/`set_details` set the status a returning handler ends with;
`cancelled()` turns true when the client goes away (the call is then cancelled, as grpc.aio
cancels it); `time_remaining()` follows the request's timeout header. Response metadata set
before the first response message goes out as HTTP headers, trailing metadata as the
protocol's trailers.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from hybrid_server.grpc.context import Metadata


class HttpRpcContext:
    __slots__ = (
        "_code", "_deadline", "_details", "_done_callbacks", "_metadata", "_peer", "_trailing", "_writer",
        "cancelled_by_client", "done_flag", "initial_metadata", "method",
    )

    def __init__(self, method: str, metadata: tuple[tuple[str, Any], ...], peer: str, timeout: float | None) -> None:
        self.method = method  # "/pkg.Service/Method"
        self._metadata = metadata
        self._peer = peer
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._trailing: tuple[tuple[str, Any], ...] = ()
        self.initial_metadata: tuple[tuple[str, Any], ...] = ()
        self._writer: Callable[[Any], Awaitable[None]] | None = None
        self._done_callbacks: list[Callable[[Any], None]] | None = None
        self.cancelled_by_client = False
        self.done_flag = False

    # ------------------------------------------------------------------ request

    def invocation_metadata(self) -> Metadata:
        """Request headers as metadata: lower-case keys, `-bin` values as bytes."""
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def set_timeout(self, timeout: float | None) -> None:
        """The deadline, once the protocol has read it from the request's headers."""
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def cancelled(self) -> bool:
        return self.cancelled_by_client

    def done(self) -> bool:
        return self.done_flag or self.cancelled_by_client

    def is_active(self) -> bool:
        return not self.done()

    def auth_context(self) -> dict[str, Any]:
        return {}

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    # ------------------------------------------------------------------ status

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> None:
        if code is grpc.StatusCode.OK:
            raise ValueError("abort() needs a status code other than OK")
        self._code = code
        self._details = details
        if trailing_metadata:
            self.set_trailing_metadata(trailing_metadata)
        raise grpc.aio.AbortError()

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    # ------------------------------------------------------------------ metadata

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Sequence[tuple[str, Any]]:
        return self._trailing

    async def send_initial_metadata(self, metadata: Metadata) -> None:
        self.initial_metadata = tuple(metadata)

    def set_compression(self, compression: Any) -> None:
        """Accepted for compatibility: the response's compression follows what the client accepts."""

    def disable_next_message_compression(self) -> None:
        """Accepted for compatibility."""

    # ------------------------------------------------------------------ streams

    async def write(self, message: Any) -> None:
        """Send one message of a server stream (grpc.aio's `context.write`)."""
        if self._writer is None:
            raise RuntimeError("context.write() is only available to server-streaming methods")
        await self._writer(message)

    async def read(self) -> Any:
        raise RuntimeError("context.read() needs a client stream, which HTTP/1.1 cannot carry")

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        if self._done_callbacks is None:
            self._done_callbacks = []
        self._done_callbacks.append(callback)

    def finish(self) -> None:
        """The call is over (called once by the route, before its last bytes go out)."""
        self.done_flag = True
        callbacks, self._done_callbacks = self._done_callbacks, None
        for callback in callbacks or ():
            try:
                callback(self)
            except Exception:  # a callback's failure is not the call's
                pass

"""Limits uvicorn leaves to the deployment: a request-header timeout, a header size limit and a
body size limit enforced before the body is read.

uvicorn has no header timeout (a connection that never finishes its headers stays open for
good: slowloris) and its httptools parser no header size limit; Django reads a whole body
(spooling it to disk) before a view can refuse it. These are applied per connection, in the
protocol, so the application never sees what is refused.
"""
from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hybrid_server.config import HttpLimits

_REASONS = {408: b"Request Timeout", 413: b"Content Too Large", 431: b"Request Header Fields Too Large"}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `limits` (set on a subclass by `protocol_class`)."""

    limits = HttpLimits(None, None, None)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._refused = False
        self._body_bytes = 0
        self._header_timer: Any = None
        self._begin_headers()

    def _begin_headers(self) -> None:
        self._in_headers = True
        self._header_bytes = 0
        timeout = self.limits.header_timeout
        if timeout and self._header_timer is None:
            self._header_timer = self.loop.call_later(timeout, self._headers_timed_out)

    def _end_headers(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` (unless a response has begun) and close the connection."""
        self._refused = True
        self._end_headers()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            body = message.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
            )
        if cycle is not None:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self._in_headers and not self._refused:
            self.logger.info("Closing a connection that did not send its request headers in time")
            self._refuse(408, "The request headers did not arrive in time.\n")

    # ------------------------------------------------------------------ parser input

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        limit = self.limits.max_header_size
        if self._in_headers and limit is not None and self._header_bytes > limit and not self._refused:
            self._refuse(431, f"The request headers are larger than {limit} bytes.\n")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._body_bytes = 0
        if not self._in_headers:  # the next request on a kept-alive connection
            self._begin_headers()

    def on_headers_complete(self) -> None:
        self._end_headers()
        limit = self.limits.max_body_size
        if limit is not None:
            for name, value in self.headers:
                if name == b"content-length" and value.isdigit() and int(value) > limit:
                    self._refuse(413, f"The request body is larger than {limit} bytes.\n")
                    return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_bytes += len(body)
        limit = self.limits.max_body_size
        if limit is not None and self._body_bytes > limit:
            self._refuse(413, f"The request body is larger than {limit} bytes.\n")
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()


def protocol_class(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})

"""The engine's ASGI front: `/healthz` (alive) and `/readyz` (200 while serving, 503 otherwise)
before the app, the Prometheus scrape and request metrics with `--metrics`, the HTTP access log,
and requests cut by the end of the grace period closed as such."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse

from hybrid_server.lifecycle import Lifecycle, State

logger = logging.getLogger("hybrid_server.http")
# One line per HTTP request, on the logger `runserver` uses, so Django's default logging shows
# it as `runserver` does and a project's LOGGING for it applies unchanged.
access_logger = logging.getLogger("django.server")

_CUT_BODY = b"The server stopped before this request finished.\n"
_CUT_START = {
    "type": "http.response.start",
    "status": 503,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(_CUT_BODY)).encode()),
        (b"connection", b"close"),
        (b"retry-after", b"1"),
    ],
}


class ProbeApp:
    """A plain ASGI dispatch on the exact path, so requests for the app pay one comparison."""

    def __init__(
        self, app: Callable[..., Any], lifecycle: Lifecycle, healthz: str | None, readyz: str | None,
        access_log: bool = False, metrics: Any = None, count_requests: bool = True,
    ) -> None:
        self.app = app
        self.lifecycle = lifecycle
        self.healthz = healthz
        self.readyz = readyz
        self.access_log = access_log
        # --metrics: the scrape at METRICS_PATH, and (unless `count_requests` is off: the probe
        # listener) every request to the app counted; None and nothing to pay when off.
        self.metrics = metrics
        self.metrics_path = metrics.path if metrics is not None else None
        self.http_metrics = metrics.http if metrics is not None and count_requests else None

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == self.healthz:
                await PlainTextResponse("ok")(scope, receive, send)
                return
            if path == self.readyz:
                ready = self.lifecycle.ready
                response = PlainTextResponse(self.lifecycle.state.value, status_code=200 if ready else 503)
                await response(scope, receive, send)
                return
            if path == self.metrics_path:
                await self.metrics.respond(scope, receive, send)
                return
        if (self.access_log or self.http_metrics is not None) and scope["type"] == "http":
            await self._logged(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if self.lifecycle.state is State.SERVING:
                raise
            await self._cut(scope, send)

    async def _logged(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """Count and log a request when its last body message goes out, before it is sent: a
        client that has read the whole response (and then scrapes /metrics) must find it counted.
        Django's handler returns only later, after closing the response in a thread."""
        status = [0]
        done = [False]
        started = time.perf_counter()

        def finish() -> None:
            if done[0]:
                return
            done[0] = True
            if self.http_metrics is not None:
                self.http_metrics.observe(scope.get("method", "?"), status[0] or 500, time.perf_counter() - started)
            if self.access_log:
                log_request(scope, status[0] or 500, started)

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except asyncio.CancelledError:
            if self.lifecycle.state is State.SERVING:
                raise
            await self._cut(scope, send)
            status[0] = status[0] or 503
        finally:
            finish()

    async def _cut(self, scope: dict[str, Any], send: Callable[..., Any]) -> None:
        """uvicorn cancels what still runs when the grace period is over: say so in the log
        instead of a Django 500 with a CancelledError traceback, and answer 503 if nothing was
        sent yet (a response already under way is closed unfinished, as a cut one must be)."""
        logger.warning(
            "HTTP %s %s cut: still running when the grace period ended", scope.get("method", "?"), scope.get("path", "?")
        )
        try:
            await send(_CUT_START)
            await send({"type": "http.response.body", "body": _CUT_BODY})
        except Exception:  # the response had started (or the client is gone): uvicorn closes it
            pass


def log_request(scope: dict[str, Any], status: int, started: float) -> None:
    """`HTTP GET /path 200 1.3ms peer=10.0.3.7:51544`, the gRPC access line's shape."""
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "?"
    query = scope.get("query_string") or b""
    path = scope.get("path", "?") + ("?" + query.decode("latin-1") if query else "")
    elapsed_ms = (time.perf_counter() - started) * 1000
    access_logger.log(
        level, "HTTP %s %s %d %.1fms peer=%s", scope.get("method", "?"), _printable(path), status, elapsed_ms, peer,
        extra={"status_code": status, "server_time": time.strftime("%d/%b/%Y %H:%M:%S")},
    )


def _printable(text: str) -> str:
    """Client-chosen text, escaped: no newline or escape code reaches the log as such."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")

"""The engine's ASGI front: `/healthz` (alive) and `/readyz` (200 while serving, 503 otherwise)
before the app, and requests cut by the end of the grace period closed as such."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse

from hybrid_server.lifecycle import Lifecycle, State

logger = logging.getLogger("hybrid_server.http")

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

    def __init__(self, app: Callable[..., Any], lifecycle: Lifecycle, healthz: str | None, readyz: str | None) -> None:
        self.app = app
        self.lifecycle = lifecycle
        self.healthz = healthz
        self.readyz = readyz

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
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if self.lifecycle.state is State.SERVING:
                raise
            await self._cut(scope, send)

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

"""`/healthz` (alive) and `/readyz` (200 while serving, 503 otherwise) in front of the app."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse

from hybrid_server.lifecycle import Lifecycle


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
        await self.app(scope, receive, send)

"""An interceptor and a middleware whose runs the testing-harness tests can see, in-process."""
from __future__ import annotations

import threading
from typing import Any

import grpc
from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

SEEN: list[str] = []  # what the interceptor saw: "<method path>"
_guard = threading.Lock()


def _record(details: Any) -> None:
    with _guard:
        SEEN.append(details.method)


class RecordingInterceptor(grpc.aio.ServerInterceptor):
    """Records every call's method; refuses calls carrying `x-block`."""

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        _record(details)
        if any(key == "x-block" for key, _ in details.invocation_metadata or ()):
            async def deny(request: Any, context: Any) -> None:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "blocked by the interceptor")

            return grpc.unary_unary_rpc_method_handler(deny)
        return await continuation(details)


class SyncRecordingInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Any, details: Any) -> Any:
        _record(details)
        return continuation(details)


@sync_and_async_middleware
def trailer_middleware(get_response: Any) -> Any:
    """Sets the trailing metadata `x-middleware: <action>` on every call."""
    if iscoroutinefunction(get_response):
        async def middleware(call: Any) -> Any:
            call.context.set_trailing_metadata((("x-middleware", call.action),))
            return await get_response(call)

        return middleware

    def sync_middleware(call: Any) -> Any:
        call.context.set_trailing_metadata((("x-middleware", call.action),))
        return get_response(call)

    return sync_middleware


MIDDLEWARE = [
    "django_socio_grpc.middlewares.log_requests_middleware",
    "django_socio_grpc.middlewares.close_old_connections_middleware",
    "tests.testing.support.trailer_middleware",
]


def trailer(call: Any) -> str | None:
    """The `x-middleware` trailer of a finished sync call (or of an RpcError)."""
    return dict(call.trailing_metadata() or ()).get("x-middleware")

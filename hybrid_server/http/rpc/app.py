"""`RpcApp`: the ASGI front that serves every recorded gRPC method at its standard path
(`POST /<package>.<Service>/<Method>`) over Connect and gRPC-Web, and hands everything else to
the app behind it (Django).

The routes are made once, after the gRPC side has run the hook (`load`); a request pays one
dictionary look-up to know whether it is an RPC. The protocol is chosen by the content type:
`application/json`/`application/proto` (Connect unary), `application/connect+json|proto`
(Connect streaming), `application/grpc-web[-text][+proto|+json]` (gRPC-Web).
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

from hybrid_server.grpc.handle import MethodRecord
from hybrid_server.grpc.limits import ConcurrencyLimit
from hybrid_server.http.rpc import connect, grpcweb
from hybrid_server.http.rpc.calls import ClientGone, Receive, Send, Status, headers_of, metadata_of, peer_of
from hybrid_server.http.rpc.context import HttpRpcContext
from hybrid_server.http.rpc.cors import Cors
from hybrid_server.http.rpc.routes import Route, build_routes
from hybrid_server.http.rpc.status import ProtocolError, StatusCode

ACCEPT_POST = b"application/json, application/proto, application/connect+json, application/connect+proto, " \
              b"application/grpc-web+proto, application/grpc-web-text+proto"


async def _plain(send: Send, status: int, text: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class RpcApp:
    def __init__(self, app: Callable[..., Any], cors_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.routes: dict[str, Route] = {}
        self.services: frozenset[str] = frozenset()
        self.limit: int | None = None
        origins = tuple(cors_origins)
        self.cors = Cors(origins) if origins else None

    def load(self, records: Iterable[MethodRecord], executor: Any, limit: ConcurrencyLimit | None,
             max_receive: int | None, log_ok: bool = False) -> None:
        """Build the routes from the gRPC side's recorded methods (once, after its hook ran)."""
        self.routes = build_routes(records, executor, limit, log_ok)
        self.services = frozenset(route.service for route in self.routes.values())
        self.limit = max_receive

    @property
    def served(self) -> list[Route]:
        return [route for route in self.routes.values() if route.handler is not None]

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.routes.get(scope["path"])
            if route is not None:
                await self.serve(route, scope, receive, send)
                return
            service, _, method = scope["path"][1:].partition("/")
            if service in self.services and method and "/" not in method and scope["method"] == "POST":
                unknown = Route(scope["path"], service, method, "unary", None, {}, f"method {scope['path']} not found")
                await self.serve(unknown, scope, receive, send)
                return
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ one call

    async def serve(self, route: Route, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = headers_of(scope)
        origin = headers.get("origin")
        if self.cors is not None and origin is not None:
            if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
                await self.cors.preflight(origin, headers, send)
                return
            if self.cors.allows(origin):
                send = self.cors.wrap(origin, send)
        if scope["method"] != "POST":
            await _plain(send, 405, f"{route.path} is an RPC: call it with POST.\n", [(b"allow", b"POST")])
            return
        content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        try:
            await self._dispatch(route, content_type, headers, scope, receive, send)
        except ClientGone:
            pass

    async def _dispatch(self, route: Route, content_type: str, headers: dict[str, str], scope: dict[str, Any],
                        receive: Receive, send: Send) -> None:
        if content_type in grpcweb.CONTENT_TYPES:
            codec_name, text = grpcweb.CONTENT_TYPES[content_type]
            kind = "web"
        elif content_type in connect.STREAM_TYPES:
            codec_name, kind, text = connect.STREAM_TYPES[content_type], "stream", False
        elif content_type in connect.UNARY_TYPES and not route.streams_response:
            codec_name, kind, text = connect.UNARY_TYPES[content_type], "unary", False
        else:
            await _unsupported(route, content_type, send)
            return
        codec = route.codecs.get(codec_name)
        try:
            if route.handler is None:
                code = StatusCode.UNIMPLEMENTED
                raise ProtocolError(code, route.unavailable or "not served over HTTP")
            if codec is None:
                raise ProtocolError(StatusCode.INTERNAL, f"{route.path} has no JSON mapping: its requests are not "
                                    "protobuf messages; use application/proto")
            ctx = HttpRpcContext(route.path, metadata_of(scope), peer_of(scope), None)
            if kind == "unary":
                await connect.unary(route, codec, headers, ctx, receive, send, self.limit)
            elif kind == "stream":
                await connect.stream(route, codec, headers, ctx, receive, send, self.limit)
            else:
                await grpcweb.serve(route, codec, content_type, text, headers, ctx, receive, send, self.limit)
        except ProtocolError as exc:
            await self._refuse(kind, content_type, text, exc, send)

    async def _refuse(self, kind: str, content_type: str, text: bool, exc: ProtocolError, send: Send) -> None:
        """A call refused before its method ran, in the protocol's own form."""
        status = Status(exc.code, exc.message)
        close = exc.code is StatusCode.RESOURCE_EXHAUSTED  # the body may not have been read to its end
        if kind == "unary":
            await connect.send_error(send, status, close=close)
            return
        headers = [(b"content-type", content_type.encode())]
        if close:
            headers.append((b"connection", b"close"))
        if kind == "web":
            frame = grpcweb.trailers_frame(status)
            body = base64.b64encode(frame) if text else frame
        else:
            body = connect.end_of_stream(status)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _unsupported(route: Route, content_type: str, send: Send) -> None:
    if content_type in connect.UNARY_TYPES:
        text = (f"{route.path} streams its response: use application/connect+json or application/connect+proto "
                "(Connect streaming) or gRPC-Web.\n")
    elif content_type.startswith("application/grpc"):
        text = "Native gRPC (application/grpc) is served on the gRPC port; this port speaks Connect and gRPC-Web.\n"
    else:
        text = f"Unsupported content type {content_type or '(none)'!r} for an RPC.\n"
    await _plain(send, 415, text, [(b"accept-post", ACCEPT_POST)])

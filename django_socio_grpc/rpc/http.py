"""The HttpRequest-like face of an RPC, for Django's own middlewares and django-socio-grpc's.

django-socio-grpc documents its middlewares as "compatible with Django ones for most cases": the
request a middleware receives offers `grpc_request`, `context`, `action` and `service`, and
behind them an HttpRequest's face (`META` from the invocation metadata, `headers`, `COOKIES`,
`GET`, `method`, `path`, ...), on which middlewares set `session`, `user`, `LANGUAGE_CODE`.

- `RpcHttpRequest`: that face, a real `HttpRequest`, built on first use (an RPC whose middlewares
  never look pays nothing).
- `CallContext`: the transport's context with the call behind it, what middlewares see as
  `request.context` and actions as `self.context` when GRPC_MIDDLEWARE has middlewares other than
  the built-in ones, so that `get_language_from_request(request.context)` (django-socio-grpc's
  documented example) and `self.context.user` work.
- `RpcHttpResponse`: what a Django `MiddlewareMixin` middleware gets as the response: an
  `HttpResponseBase` around the RPC's response (a message, or the response stream). Headers and
  cookies it sets go to the client as trailing metadata; an HttpResponse of its own (a middleware
  that answers instead of the action) ends the RPC with the gRPC status of its HTTP status.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from django.http import HttpRequest, QueryDict
from django.http.cookie import parse_cookie
from django.http.response import HttpResponseBase

from django_socio_grpc.rpc.errors import HTTP_TO_GRPC, Aborted
from django_socio_grpc.settings import grpc_settings

# The built-in middlewares neither read the request's HttpRequest face through `request.context`
# nor set attributes on it: with only these, actions get the transport's context as it is.
BUILT_IN = frozenset({
    "django_socio_grpc.middlewares.log_requests_middleware",
    "django_socio_grpc.middlewares.close_old_connections_middleware",
    "django_socio_grpc.middlewares.log_requests_and_close_old_connections",
})


def needs_context_proxy() -> bool:
    """True if GRPC_MIDDLEWARE has a middleware other than the built-in ones (see `rpc.http`)."""
    for entry in grpc_settings.GRPC_MIDDLEWARE:
        path = entry if isinstance(entry, str) else f"{getattr(entry, '__module__', '')}.{getattr(entry, '__qualname__', '')}"
        if path not in BUILT_IN:
            return True
    return False


FACE = "_http_request"  # where a call keeps its face, once built (in the call's attribute dict)
SNAPSHOT = "_rpc_metadata"  # and the invocation metadata and peer it is built from

# django-socio-grpc's mapping of the generic actions to HTTP methods (for permission checks).
METHODS = {"List": "GET", "Retrieve": "GET", "Create": "POST", "Update": "PUT", "PartialUpdate": "PATCH", "Destroy": "DELETE"}


def _meta(metadata: Any, peer: str, path: str) -> dict[str, Any]:
    """WSGI/ASGI-style META: each text metadata key as HTTP_<KEY> (`accept-language` ->
    HTTP_ACCEPT_LANGUAGE, what Django reads), and as django-socio-grpc had it (upper case: ACCEPT-LANGUAGE)."""
    meta: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/grpc",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "",
        "SERVER_PROTOCOL": "HTTP/2",
        "wsgi.url_scheme": "http",
    }
    address = peer.rsplit(":", 1)[0] if peer.count(":") else peer  # ipv4:127.0.0.1:5000, ipv6:[::1]:5000
    meta["REMOTE_ADDR"] = address.split(":", 1)[-1].strip("[]") if address.startswith(("ipv4:", "ipv6:")) else address
    for key, value in metadata or ():
        if key.endswith("-bin") or key.startswith(":"):
            continue
        upper = key.upper()
        meta.setdefault(upper, value)
        name = "HTTP_" + upper.replace("-", "_")
        meta[name] = f"{meta[name]},{value}" if name in meta else value
    return meta


class RpcHttpRequest(HttpRequest):
    """An RPC seen as an HttpRequest: a POST to /<service>/<method> whose headers are the
    invocation metadata (text keys). No body, no query string; `user` None until a middleware
    authenticates (as django-socio-grpc's)."""

    def __init__(self, metadata: Any, peer: str, controller: str, action: str) -> None:
        super().__init__()
        path = f"/{controller}/{action}"
        self.META = _meta(metadata, peer or "", path)
        self.COOKIES = parse_cookie(self.META.get("HTTP_COOKIE", ""))
        self.GET = QueryDict()
        self.POST = QueryDict()
        self.path = self.path_info = path
        self.method = METHODS.get(action, "POST")
        self.user = None
        self.auth = None


def _snapshot(call_dict: dict[str, Any], context: Any) -> tuple[Any, str]:
    snapshot = call_dict.get(SNAPSHOT)
    if snapshot is None:
        try:
            snapshot = (tuple(context.invocation_metadata() or ()), context.peer() or "")
        except Exception:  # a context that no longer answers
            snapshot = ((), "")
        call_dict[SNAPSHOT] = snapshot
    return snapshot


def remember(call: Any) -> None:
    """Keep what the face is built from while the RPC is on: a record that carries the call (the
    request log's) may be read after the RPC, when grpc.aio's context must not be touched (from
    another thread it crashes the process)."""
    _snapshot(call.__dict__, call.context)


def face_of(call_dict: dict[str, Any], context: Any, controller: str, action: str) -> RpcHttpRequest:
    face = call_dict.get(FACE)
    if face is None:
        metadata, peer = _snapshot(call_dict, context)
        face = call_dict[FACE] = RpcHttpRequest(metadata, peer, controller, action)
    return face


class CallContext:
    """The transport's context, then what middlewares set on the request (`user`, `session`...),
    then the request's HttpRequest face: django-socio-grpc's proxy context. Attributes set on it
    are set on the request (both see them). It holds the call's attribute dict, not the call."""

    __slots__ = ("_action", "_context", "_controller", "_extra")

    def __init__(self, context: Any, extra: dict[str, Any], controller: str, action: str) -> None:
        object.__setattr__(self, "_context", context)
        object.__setattr__(self, "_extra", extra)
        object.__setattr__(self, "_controller", controller)
        object.__setattr__(self, "_action", action)

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._context, name)
        except AttributeError:
            pass
        extra = self._extra
        if name in extra:
            return extra[name]
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(face_of(extra, self._context, self._controller, self._action), name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._extra[name] = value

    def __delattr__(self, name: str) -> None:
        del self._extra[name]

    @property
    def transport_context(self) -> Any:
        """The context this one stands in front of."""
        return self._context


# --------------------------------------------------------------------------- Django's MiddlewareMixin


class RpcHttpResponse(HttpResponseBase):
    """The RPC's response as a Django middleware's `process_response` sees it: status 200."""

    def __init__(self, response: Any, streaming: bool) -> None:
        super().__init__()
        self.rpc_response = response
        self.streaming = streaming
        self._initial = dict(self.headers)

    def metadata(self) -> list[tuple[str, str]]:
        """Headers and cookies the middlewares set, as gRPC metadata (lower-case keys)."""
        pairs = [
            (name.lower(), value)
            for name, value in self.headers.items()
            if self._initial.get(name) != value and name.lower() not in ("content-type", "vary")
        ]
        pairs.extend(("set-cookie", morsel.OutputString()) for morsel in self.cookies.values())
        return pairs


def _add_trailing(context: Any, pairs: list[tuple[str, str]]) -> None:
    transport = getattr(context, "transport_context", context)
    existing = transport.trailing_metadata() or ()
    transport.set_trailing_metadata(tuple(existing) + tuple(pairs))


def _result(response: Any, call: Any) -> Any:
    if isinstance(response, RpcHttpResponse):
        pairs = response.metadata()
        if pairs:
            _add_trailing(call.context, pairs)
        return response.rpc_response
    if isinstance(response, HttpResponseBase):  # the middleware answered instead of the action
        code = HTTP_TO_GRPC.get(response.status_code, grpc.StatusCode.UNKNOWN)
        raise Aborted(code, response.reason_phrase or "")
    return response


def adapt_django_middleware(factory: Callable[[Any], Any], handler: Callable[[Any], Any], is_async: bool) -> Callable[[Any], Any]:
    """`factory` (a `MiddlewareMixin` subclass) around `handler`, speaking HttpResponse to it."""
    if is_async:

        async def as_http_async(call: Any) -> Any:
            return RpcHttpResponse(await handler(call), call.response_stream)

        middleware = factory(as_http_async)

        async def from_http_async(call: Any) -> Any:
            return _result(await middleware(call), call)

        return from_http_async

    def as_http(call: Any) -> Any:
        return RpcHttpResponse(handler(call), call.response_stream)

    sync_middleware = factory(as_http)

    def from_http(call: Any) -> Any:
        return _result(sync_middleware(call), call)

    return from_http

"""`ServerHandle`: the server as the `ROOT_HANDLERS_HOOK` sees it.

Whatever the hook adds — through `AppHandlerRegistry` or a generated `add_XServicer_to_server`
called directly — passes through here: every request deserializer is guarded, every method
handler whose behaviour offers `bind_runtime(runtime)` is bound to this server's runtime (the
app's servicers are built that way: no global carries the runtime), and every method is
recorded, so health, reflection, the banner and other transports know every service.

On grpc.aio, methods are served through generic handlers only: its server keeps one pending
"request call" per registered method and waits on all of them (`asyncio.wait`) for every RPC
it accepts, a cost that grows with the number of methods (~30 in the test project: about 5% of
an Echo's time); with generic handlers alone it waits on one. And since it asks generic handlers
one by one, every service's methods go into one table (`_MethodTable`): one lookup per RPC
whatever the number of services. The thread-pool server's cost
does not depend on it: it keeps grpc's registered methods.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import grpc

from hybrid_server.grpc.foreign import adopt_foreign, failure_handler
from hybrid_server.grpc.guard import guard_deserializer, guard_serializer
from hybrid_server.grpc.limits import EXEMPT_SERVICES, ConcurrencyLimit
from hybrid_server.grpc.runtime import AIO, Runtime
from hybrid_server.records import record

if TYPE_CHECKING:
    from hybrid_server.metrics.grpc_calls import GrpcMetrics

BIND_ATTRIBUTE = "bind_runtime"
_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


@record
class MethodRecord:
    """One method as added to the server; `rebind` serves it under another runtime."""

    service: str
    method: str
    handler: Any  # the grpc.RpcMethodHandler given to the server (guarded, bound)
    rebind: Callable[[Runtime], Callable[..., Any]] | None

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


class ServerHandle:
    """Forwards to the real server; adding handlers goes through `_adopt`."""

    def __init__(
        self, server: Any, runtime: Runtime, limit: ConcurrencyLimit | None = None, metrics: GrpcMetrics | None = None
    ) -> None:
        self._server = server
        self.runtime = runtime
        self.limit = limit
        self.metrics = metrics  # every RPC measured (--metrics); the record keeps the unmeasured handler
        self._served: dict[str, Any] = {}  # path -> the handler given to grpc, when it differs from the record's
        self._given: dict[str, Any] = {}  # path -> the handler as the hook gave it (adopted once)
        self._generic_paths: set[str] = set()  # served through a generic handler given to the server
        self._register_methods = runtime.backend != AIO
        self._table = _MethodTable() if runtime.backend == AIO else None
        self.methods: dict[str, MethodRecord] = {}
        self.services: list[str] = []  # full names, in the order they were added
        self._generic: list[Any] = []

    # ------------------------------------------------------------------ what grpc calls

    def add_generic_rpc_handlers(self, generic_handlers: Iterable[Any]) -> None:
        adopted = []
        for generic in generic_handlers:
            service = getattr(generic, "_name", None)
            handlers = getattr(generic, "_method_handlers", None)
            if isinstance(service, str) and isinstance(handlers, dict):
                self._generic_paths.update(self._adopt(service, handlers))
                if self._table is not None:  # grpc.aio: into the one table
                    self._add_to_table(handlers)
                    continue
            else:
                generic = _GuardedGenericHandler(generic, self.runtime, self.limit, self.metrics)
                self._generic.append(generic)
            adopted.append(generic)
        if adopted:
            self._server.add_generic_rpc_handlers(tuple(adopted))

    def _add_to_table(self, handlers: dict[str, Any]) -> None:
        """grpc.aio asks each generic handler in turn, a call per service until one has the method:
        every service's methods go into one table, given to grpc where the first one was."""
        assert self._table is not None
        if not self._table.given:
            self._table.given = True
            self._server.add_generic_rpc_handlers((self._table,))
        for path, handler in handlers.items():
            self._table.handlers.setdefault(path, handler)  # the first wins, as with grpc's own order

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        paths = self._adopt(service_name, method_handlers)
        if self._register_methods:
            self._server.add_registered_method_handlers(service_name, method_handlers)
            return
        # grpc.aio: generic handlers only (see the module's docstring). Generated code has given
        # the same methods as a generic handler already; anything else becomes one.
        pairs = zip(method_handlers, paths, strict=True)
        missing = {key: method_handlers[key] for key, path in pairs if path not in self._generic_paths}
        if missing:
            generic = grpc.method_handlers_generic_handler(service_name, missing)
            self._generic_paths.update(paths)
            self._add_to_table(generic._method_handlers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    # ------------------------------------------------------------------ adoption

    def _adopt(self, service: str, handlers: dict[str, Any]) -> list[str]:
        """Guard and bind `handlers` in place, record each method once; returns their paths.
        grpc's generated code gives the same handlers to both registration calls (the generic
        handler in a copy of the dict): a handler adopted already is replaced by what it became."""
        if service not in self.services:
            self.services.append(service)
        paths = []
        for key, handler in list(handlers.items()):
            # `add_registered_method_handlers` keys by method name; grpc's generic handler
            # (`method_handlers_generic_handler`) by the full path "/service/method".
            method = key.rsplit("/", 1)[-1]
            path = f"/{service}/{method}"
            paths.append(path)
            record = self.methods.get(path)
            if record is not None and (handler is record.handler or handler is self._served.get(path)):
                continue
            if record is not None and self._given.get(path) is handler:
                handlers[key] = self._served.get(path, record.handler)
                continue
            adopted, rebind = self._prepare(handler, self.limit if service not in EXEMPT_SERVICES else None)
            served = adopted
            if self.metrics is not None:  # on the gRPC port only: the HTTP routes serve the record's handler
                served = self._served[path] = self.metrics.wrap(adopted, service, method)
            handlers[key] = served
            self._given[path] = handler
            self.methods[path] = MethodRecord(service, method, adopted, rebind)
        return paths

    def _prepare(self, handler: Any, limit: ConcurrencyLimit | None) -> tuple[Any, Callable[[Runtime], Any] | None]:
        kind = _kind(handler)
        if kind is None:
            return handler, None
        behaviour = getattr(handler, kind)
        rebind = getattr(behaviour, BIND_ATTRIBUTE, None)
        if not callable(rebind):
            rebind = None
        guarded = guard_deserializer(handler.request_deserializer)
        if rebind is not None:
            behaviour = rebind(self.runtime)
        else:
            behaviour = adopt_foreign(behaviour, handler.request_streaming, guarded is not handler.request_deserializer)
        if limit is not None:
            behaviour = limit.wrap(behaviour)
        serializer = guard_serializer(handler.response_serializer)
        return handler._replace(request_deserializer=guarded, response_serializer=serializer, **{kind: behaviour}), rebind


def _kind(handler: Any) -> str | None:
    for kind in _KINDS:
        if getattr(handler, kind, None) is not None:
            return kind
    return None


class _MethodTable(grpc.GenericRpcHandler):
    """Every method added through grpc's generated code, by path: one lookup per RPC."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.given = False  # to the server, once

    def service(self, handler_call_details: Any) -> Any:
        return self.handlers.get(handler_call_details.method)


class _GuardedGenericHandler(grpc.GenericRpcHandler):
    """A hand-written `GenericRpcHandler`: its handlers are guarded as they are looked up."""

    def __init__(self, inner: Any, runtime: Runtime, limit: ConcurrencyLimit | None, metrics: GrpcMetrics | None) -> None:
        self._inner = inner
        self._runtime = runtime
        self._limit = limit
        self._metrics = metrics

    def service(self, handler_call_details: Any) -> Any:
        try:
            handler = self._inner.service(handler_call_details)
        except BaseException as exc:  # a SystemExit too: grpc.aio's RPC task is not wrapped (containment)
            return failure_handler(exc, f"the generic handler {type(self._inner).__qualname__}", self._runtime.is_aio)
        kind = _kind(handler) if handler is not None else None
        if kind is None:
            return handler
        guarded = guard_deserializer(handler.request_deserializer)
        behaviour = adopt_foreign(getattr(handler, kind), handler.request_streaming, guarded is not handler.request_deserializer)
        method = getattr(handler_call_details, "method", "") or ""
        if self._limit is not None and method.split("/")[1:2] and method.split("/")[1] not in EXEMPT_SERVICES:
            behaviour = self._limit.wrap(behaviour)
        serializer = guard_serializer(handler.response_serializer)
        handler = handler._replace(request_deserializer=guarded, response_serializer=serializer, **{kind: behaviour})
        if self._metrics is not None:
            service, _, name = method.lstrip("/").rpartition("/")
            handler = self._metrics.wrap(handler, service, name)
        return handler

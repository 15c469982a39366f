"""`build_servicer`: the object `add_XServicer_to_server` receives, one function per action.

Each action attribute is a real function (grpc.aio decides by its kind whether to await it,
iterate it or run it in a thread) carrying `bind_runtime(runtime)`, which returns the handler
for that runtime's backend. The engine's `ServerHandle` calls it when the servicer is added,
and another transport may call it again. Called directly (a plain grpc.aio server, a test),
the function binds itself once to the default runtime (aio, the loop's default executor).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_socio_grpc.rpc.aio import aio_handler
from django_socio_grpc.rpc.chain import Handler, build_chain
from django_socio_grpc.rpc.threads import threads_handler
from hybrid_server.grpc.runtime import AIO, THREADS, Runtime

DEFAULT_RUNTIME = Runtime()
_BUILDERS = {AIO: aio_handler, THREADS: threads_handler}


class ServicerCore:
    """What the actions of one servicer share: the service, its initkwargs, and one middleware
    chain per flavour, built at the first binding that needs it (inside the engine's hook, so
    a middleware that cannot be imported fails the start-up)."""

    __slots__ = ("_chains", "initkwargs", "service_class")

    def __init__(self, service_class: Any, initkwargs: dict[str, Any]) -> None:
        self.service_class = service_class
        self.initkwargs = initkwargs
        self._chains: dict[bool, Handler] = {}

    def chain(self, is_async: bool) -> Handler:
        chain = self._chains.get(is_async)
        if chain is None:
            chain = self._chains[is_async] = build_chain(is_async)
        return chain

    def bind(self, action: str, runtime: Runtime) -> Callable[..., Any]:
        spec = self.service_class.get_grpc_actions()[action]
        try:
            build = _BUILDERS[runtime.backend]
        except KeyError:
            raise ValueError(f"unknown backend {runtime.backend!r}; expected one of {sorted(_BUILDERS)}") from None
        return build(self, action, spec.request_stream, spec.response_stream, runtime)


def _entry(core: ServicerCore, action: str, response_stream: bool) -> Callable[..., Any]:
    """The servicer's function for `action`: aio-shaped, lazily bound to the default runtime."""
    bound: Callable[..., Any] | None = None

    def bind_runtime(runtime: Runtime) -> Callable[..., Any]:
        return core.bind(action, runtime)

    if response_stream:

        async def entry(request: Any, context: Any) -> Any:
            nonlocal bound
            if bound is None:
                bound = bind_runtime(DEFAULT_RUNTIME)
            async for item in bound(request, context):
                yield item

    else:

        async def entry(request: Any, context: Any) -> Any:
            nonlocal bound
            if bound is None:
                bound = bind_runtime(DEFAULT_RUNTIME)
            return await bound(request, context)

    entry.__name__ = entry.__qualname__ = action
    entry.bind_runtime = bind_runtime
    return entry


def build_servicer(cls: Any, initkwargs: dict[str, Any]) -> Any:
    """An object with one function attribute per action, as `add_*Servicer_to_server` expects."""
    core = ServicerCore(cls, initkwargs)
    servicer = type(f"{cls.get_controller_name()}Servicer", (), {})()
    for name, spec in cls.get_grpc_actions().items():
        setattr(servicer, name, _entry(core, name, spec.response_stream))
    servicer.service_class = cls
    return servicer

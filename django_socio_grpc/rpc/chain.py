"""GRPC_MIDDLEWARE as one chain per servicer and flavour, built the way Django builds its handler.

The chain ends in a dispatcher that runs the call's own terminal (`call.terminal(call)`), so
every action of a servicer shares it: each middleware factory is called once per servicer
(`as_servicer()`) and flavour — sync for `def` actions, async for `async def` ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from django_socio_grpc.rpc.call import RpcCall
from django_socio_grpc.rpc.http import adapt_django_middleware
from django_socio_grpc.settings import grpc_settings

Handler = Callable[[RpcCall], Any]


def sync_dispatch(call: RpcCall) -> Any:
    return call.terminal(call)


async def async_dispatch(call: RpcCall) -> Any:
    # A real coroutine function, so that middleware factories recognise the async flavour
    # however they test it (`inspect`, `asyncio` or asgiref's `iscoroutinefunction`).
    return await call.terminal(call)


def build_chain(is_async: bool) -> Handler:
    """GRPC_MIDDLEWARE around the dispatcher, outermost first; the dispatcher alone if empty.

    Django's own middlewares (`MiddlewareMixin` subclasses: SessionMiddleware,
    AuthenticationMiddleware, LocaleMiddleware...) get an HttpResponse face of the RPC's
    response (`rpc.http.adapt_django_middleware`)."""
    handler: Handler = async_dispatch if is_async else sync_dispatch
    factories = [import_string(path) if isinstance(path, str) else path for path in grpc_settings.GRPC_MIDDLEWARE]
    factories = _fused(factories)
    for factory in reversed(factories):
        if isinstance(factory, type) and issubclass(factory, MiddlewareMixin):
            handler = adapt_django_middleware(factory, handler, is_async)
            continue
        sync_capable = getattr(factory, "sync_capable", True)
        async_capable = getattr(factory, "async_capable", False)
        if is_async and not async_capable:
            inner = async_to_sync(handler)
            handler = sync_to_async(factory(inner), thread_sensitive=False)
        elif not is_async and not sync_capable:
            inner = sync_to_async(handler, thread_sensitive=False)
            handler = async_to_sync(factory(inner))
        else:
            handler = factory(handler)
    return handler


def _fused(factories: list[Any]) -> list[Any]:
    """Adjacent factories that offer a fused form of themselves (`first.fuses_with[second]`: the
    default pair of `django_socio_grpc.middlewares`) replaced by it."""
    out: list[Any] = []
    for factory in factories:
        fuses_with = getattr(out[-1], "fuses_with", None) if out else None
        fused = fuses_with.get(factory) if isinstance(fuses_with, dict) else None
        if fused is not None:
            out[-1] = fused
        else:
            out.append(factory)
    return out


def entry_point(chain: Handler, terminal: Handler) -> Handler:
    """What a handler calls per RPC: the chain, or with no middleware the terminal itself."""
    return terminal if chain is sync_dispatch or chain is async_dispatch else chain

"""Services of the rpc tests, served under their own names with the test project's ProbeMessage.

They record what ran where in `EVENTS` (the tests reset it); their actions answer with the
thread they ran on, so a test can tell a worker thread from the loop.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
from asgiref.sync import sync_to_async

from django_socio_grpc import exceptions
from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.services import Service

EVENTS: list[Any] = []
RELEASE = threading.Event()  # lets a hanging `def` stream go on (a test sets it)
HANG = 30.0  # longer than any test waits

MESSAGE = [{"name": "message", "type": "string"}, {"name": "count", "type": "int32"}]


def action(**streams: bool) -> Any:
    return grpc_action(request=MESSAGE, response=MESSAGE, **streams)


def msg(**fields: Any) -> Any:
    from testapp.grpc import testapp_pb2

    return testapp_pb2.ProbeMessage(**fields)


def here() -> str:
    return threading.current_thread().name


def on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


TRAILING = (("detail-bin", b"\x01\x02"), ("hint", "look here"))


def fail(kind: str) -> None:
    """Raise what `kind` names."""
    if kind == "not_found":
        raise exceptions.NotFound("no such thing")
    if kind == "value":
        raise ValueError("secret internals")


def sync_abort(kind: str, context: Any) -> None:
    if kind == "abort":  # SyncContext / ThreadContext: raises
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by action", TRAILING)
    fail(kind)


async def async_abort(kind: str, context: Any) -> None:
    if kind == "abort":  # grpc.aio's context or AsyncContext: a coroutine that raises
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by action", TRAILING)
    fail(kind)


class ShapesService(Service):
    """Every shape, `def` and `async def`, each reporting the thread it ran on."""

    @action()
    async def Unary(self, request, context):
        await async_abort(request.message, context)
        return msg(message=here(), count=int(on_loop()))

    @action()
    def SyncUnary(self, request, context):
        sync_abort(request.message, context)
        return msg(message=here(), count=int(on_loop()))

    @action(response_stream=True)
    async def ServerStream(self, request, context):
        for index in range(request.count):
            yield msg(message=here(), count=index)
        await async_abort(request.message, context)

    @action(response_stream=True)
    def SyncServerStream(self, request, context):
        for index in range(request.count):
            yield msg(message=here(), count=index)
        sync_abort(request.message, context)

    @action(request_stream=True)
    async def ClientStream(self, request, context):
        parts = [item.message async for item in request]
        return msg(message="".join(parts), count=len(parts))

    @action(request_stream=True)
    def SyncClientStream(self, request, context):
        parts = [item.message for item in request]
        return msg(message="".join(parts), count=len(parts))

    @action(request_stream=True, response_stream=True)
    async def Bidi(self, request, context):
        async for item in request:
            yield msg(message=item.message.upper(), count=item.count)

    @action(request_stream=True, response_stream=True)
    def SyncBidi(self, request, context):
        for item in request:
            yield msg(message=item.message.upper(), count=item.count)

    @action()
    async def OrmThread(self, request, context):
        """Where thread-sensitive work of an async RPC runs (close_old_connections_middleware)."""
        first = await sync_to_async(here)()
        second = await sync_to_async(here)()
        return msg(message=first, count=int(first == second))

    @action(response_stream=True)
    async def Hang(self, request, context):
        """One message, then nothing until cancelled."""
        yield msg(message="first")
        await asyncio.sleep(HANG)
        yield msg(message="late")

    @action(response_stream=True)
    def SyncHang(self, request, context):
        """One message, then nothing until the test sets RELEASE."""
        yield msg(message="first")
        RELEASE.wait(HANG)
        while True:
            yield msg(message="late")

    @action()
    def Metadata(self, request, context):
        return msg(message=dict(context.invocation_metadata()).get("x-probe", ""), count=int(bool(context.peer())))


class _Hooks(Service):
    """Hooks that record; an action fails when asked to."""

    @action()
    async def Unary(self, request, context):
        EVENTS.append(("action", self.action, self.marker))
        fail(request.message)
        return msg(message=self.marker)

    @action()
    def SyncUnary(self, request, context):
        EVENTS.append(("action", self.action, self.marker))
        fail(request.message)
        return msg(message=self.marker)

    @action(response_stream=True)
    async def ServerStream(self, request, context):
        for index in range(request.count):
            EVENTS.append(("yield", index))
            yield msg(message=self.marker, count=index)
        fail(request.message)

    @action(response_stream=True)
    def SyncServerStream(self, request, context):
        for index in range(request.count):
            EVENTS.append(("yield", index))
            yield msg(message=self.marker, count=index)
        fail(request.message)


class SyncHooksService(_Hooks):
    def before_action(self):
        self.marker = f"before:{self.action}"
        EVENTS.append(("before", self.action, on_loop()))
        if self.request.message == "before":
            raise exceptions.PermissionDenied("no entry")

    def after_action(self):
        EVENTS.append(("after", self.action, on_loop()))


class AsyncHooksService(_Hooks):
    async def before_action(self):
        self.marker = f"before:{self.action}"
        EVENTS.append(("before", self.action, on_loop()))
        if self.request.message == "before":
            raise exceptions.PermissionDenied("no entry")

    async def after_action(self):
        EVENTS.append(("after", self.action, on_loop()))


class AsyncOnlyService(Service):
    """Three `async def` actions: one middleware chain, of the async flavour."""

    @action()
    async def One(self, request, context):
        return msg(message="one")

    @action()
    async def Two(self, request, context):
        return msg(message="two")

    @action(response_stream=True)
    async def Three(self, request, context):
        yield msg(message="three")

"""Every action shape, sync and async, and every error path the tests exercise."""
import asyncio
import os
import threading
import time

import grpc
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404

from django_socio_grpc import exceptions
from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.services import Service

MESSAGE = [
    {"name": "message", "type": "string"},
    {"name": "count", "type": "int32"},
    {"name": "seconds", "type": "double"},
    {"name": "thread", "type": "string", "comment": "worker thread that ran the action"},
]


def msg(**fields):
    from testapp.grpc import testapp_pb2

    return testapp_pb2.ProbeMessage(**fields)


def unary(**extra):
    return grpc_action(request=MESSAGE, response=MESSAGE, request_name="ProbeMessage", response_name="ProbeMessage", **extra)


class _Holds:
    """How many Hold actions are running in this process right now."""

    lock = threading.Lock()
    running = 0

    @classmethod
    def enter(cls):
        with cls.lock:
            cls.running += 1
            return cls.running

    @classmethod
    def leave(cls):
        with cls.lock:
            cls.running -= 1


def _released(request):
    return bool(request.message) and os.path.exists(request.message)


def fail(kind):
    from testapp.models import Item

    if kind == "not_found":
        raise exceptions.NotFound("no such thing")
    if kind == "invalid":
        raise exceptions.InvalidArgument("bad argument")
    if kind == "permission":
        raise exceptions.PermissionDenied()
    if kind == "unauthenticated":
        raise exceptions.Unauthenticated()
    if kind == "already_exist":
        raise exceptions.AlreadyExist()
    if kind == "unimplemented":
        raise exceptions.Unimplemented()
    if kind == "does_not_exist":
        raise Item.DoesNotExist("Item matching query does not exist.")
    if kind == "http404":
        raise Http404("nothing here")
    if kind == "validation":
        raise ValidationError({"name": ["This field is required."]})
    if kind == "django_permission":
        raise DjangoPermissionDenied("not yours")
    if kind == "import_error":
        import testapp.no_such_module  # noqa: F401
    raise ValueError("secret internals")


class ProbeService(Service):
    before_calls = 0

    def before_action(self):
        self.marker = f"before:{self.action}"

    async def after_action(self):
        type(self).before_calls += 1

    # ---------------------------------------------------------------- unary
    @unary()
    async def Echo(self, request, context):
        return msg(message=request.message, count=request.count, thread=self.marker)

    @unary()
    def SyncEcho(self, request, context):
        return msg(message=request.message, count=request.count, thread=self.marker)

    @unary()
    async def WhoAmI(self, request, context):
        import os

        return msg(message=str(os.getpid()))

    @unary()
    async def AsyncSleep(self, request, context):
        await asyncio.sleep(request.seconds)
        return msg(message="slept", seconds=request.seconds)

    @unary()
    def SyncSleep(self, request, context):
        time.sleep(request.seconds)
        return msg(message="slept", seconds=request.seconds, thread=threading.current_thread().name)

    @unary()
    async def Fail(self, request, context):
        if request.message == "abort":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by action")
        fail(request.message)

    @unary()
    def SyncFail(self, request, context):
        if request.message == "abort":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by action")
        fail(request.message)

    # ---------------------------------------------------------------- server streaming
    @unary(response_stream=True)
    async def StreamAsync(self, request, context):
        for index in range(request.count):
            if request.seconds:
                await asyncio.sleep(request.seconds)
            yield msg(message=f"{request.message}{index}", count=index)
        if request.message == "fail":
            raise exceptions.InvalidArgument("stream failed")

    @unary(response_stream=True)
    def StreamSync(self, request, context):
        for index in range(request.count):
            if request.seconds:
                time.sleep(request.seconds)
            yield msg(message=f"{request.message}{index}", count=index, thread=threading.current_thread().name)
        if request.message == "fail":
            raise exceptions.InvalidArgument("stream failed")

    # ---------------------------------------------------------------- client streaming
    @unary(request_stream=True)
    async def CollectAsync(self, request, context):
        parts = [item.message async for item in request]
        return msg(message="".join(parts), count=len(parts))

    @unary(request_stream=True)
    def CollectSync(self, request, context):
        parts = [item.message for item in request]
        return msg(message="".join(parts), count=len(parts))

    # ---------------------------------------------------------------- bidirectional
    @unary(request_stream=True, response_stream=True)
    async def BidiAsync(self, request, context):
        async for item in request:
            yield msg(message=item.message.upper(), count=item.count)

    @unary(request_stream=True, response_stream=True)
    def BidiSync(self, request, context):
        for item in request:
            yield msg(message=item.message.upper(), count=item.count)

    # ---------------------------------------------------------------- database
    @unary()
    async def DbAsync(self, request, context):
        from testapp.models import Item

        await Item.objects.acreate(name=request.message)
        count = await Item.objects.filter(name=request.message).acount()
        return msg(message=request.message, count=count)

    @unary()
    async def OrmThreads(self, request, context):
        """Two ORM-side calls of one RPC: the thread they ran on, and a blocking wait."""
        from asgiref.sync import sync_to_async

        from testapp.models import Item

        first = await sync_to_async(lambda: threading.current_thread().name)()
        await Item.objects.acount()
        if request.seconds:
            await sync_to_async(time.sleep)(request.seconds)
        second = await sync_to_async(lambda: threading.current_thread().name)()
        return msg(message=first, thread=second)

    @unary()
    def DbSync(self, request, context):
        from testapp.models import Item

        Item.objects.create(name=request.message)
        return msg(message=request.message, count=Item.objects.filter(name=request.message).count())

    # ---------------------------------------------------------------- holds (server-side events for tests)
    @unary(response_stream=True)
    async def HoldAsync(self, request, context):
        """Reports "started" (count: Hold actions running now, thread), then waits until the file
        named by `message` exists (at most `seconds`, default 30) and reports "released"."""
        yield msg(message="started", count=_Holds.enter(), thread=threading.current_thread().name)
        try:
            deadline = time.monotonic() + (request.seconds or 30.0)
            while not _released(request) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            yield msg(message="released" if _released(request) else "timed out", thread=threading.current_thread().name)
        finally:
            _Holds.leave()

    @unary(response_stream=True)
    def HoldSync(self, request, context):
        """HoldAsync as a blocking `def` action: it keeps its worker thread while it waits."""
        yield msg(message="started", count=_Holds.enter(), thread=threading.current_thread().name)
        try:
            deadline = time.monotonic() + (request.seconds or 30.0)
            while not _released(request) and time.monotonic() < deadline:
                time.sleep(0.005)
            yield msg(message="released" if _released(request) else "timed out", thread=threading.current_thread().name)
        finally:
            _Holds.leave()

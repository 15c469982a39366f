"""The benchmarks' lean echo service, written for django-socio-grpc 0.25 (the same actions as
tests/testproject/testapp/services/bench_service.py)."""
import time

from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.services import Service

MESSAGE = [{"name": "message", "type": "string"}, {"name": "count", "type": "int32"}, {"name": "seconds", "type": "double"}]


def bench_action(**extra):
    return grpc_action(request=MESSAGE, response=MESSAGE, request_name="BenchMessage", response_name="BenchMessage",
                       **extra)


_BENCH_MESSAGE = []  # the generated class, imported on first use (the stubs may not exist at import)


def _message(**fields):
    if not _BENCH_MESSAGE:
        from testapp.grpc import testapp_pb2

        _BENCH_MESSAGE.append(testapp_pb2.BenchMessage)
    return _BENCH_MESSAGE[0](**fields)


class BenchService(Service):
    @bench_action()
    async def Echo(self, request, context):
        return _message(message=request.message)

    @bench_action()
    def SyncEcho(self, request, context):
        return _message(message=request.message)

    @bench_action(response_stream=True)
    async def Stream(self, request, context):
        for index in range(request.count):
            yield _message(message=request.message, count=index)

    @bench_action(request_stream=True)
    async def Collect(self, request, context):
        count = 0
        async for _message_in in request:
            count += 1
        return _message(message="collected", count=count)

    @bench_action(request_stream=True, response_stream=True)
    async def Bidi(self, request, context):
        async for message in request:
            yield _message(message=message.message, count=message.count)

    @bench_action()
    def Block(self, request, context):
        time.sleep(request.seconds)
        return _message(message="done")

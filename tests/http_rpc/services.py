"""A service of the HTTP RPC tests, served as `test.Web` with the test project's ProbeMessage:
metadata both ways, and a stream that reports how it ended."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.services import Service

MESSAGE = [{"name": "message", "type": "string"}, {"name": "count", "type": "int32"}]
ENDED: list[str] = []  # how `Endless` streams ended, in order
ENDED_EVENT = threading.Event()


def action(**streams: bool) -> Any:
    return grpc_action(request=MESSAGE, response=MESSAGE, **streams)


def msg(**fields: Any) -> Any:
    from testapp.grpc import testapp_pb2

    return testapp_pb2.ProbeMessage(**fields)


def _asked(context: Any) -> tuple[str, int]:
    metadata = dict(context.invocation_metadata())
    return str(metadata.get("x-ask", "")), len(metadata.get("x-data-bin", b""))


class WebService(Service):
    @action()
    async def Meta(self, request, context):
        ask, size = _asked(context)
        await context.send_initial_metadata((("x-initial", "early"),))
        context.set_trailing_metadata((("x-trailer", "late"), ("x-blob-bin", b"\x00\x01\x02")))
        return msg(message=ask, count=size)

    @action()
    def SyncMeta(self, request, context):
        ask, size = _asked(context)
        context.set_trailing_metadata((("x-trailer", "late-sync"),))
        return msg(message=ask, count=size)

    @action()
    async def Peer(self, request, context):
        remaining = context.time_remaining()
        return msg(message=context.peer(), count=-1 if remaining is None else int(remaining))

    @action(response_stream=True)
    async def Endless(self, request, context):
        """Yields forever (every 10 ms) until the client goes away or the deadline passes."""
        index = 0
        try:
            while True:
                yield msg(message=request.message, count=index)
                index += 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            ENDED.append("cancelled")
            raise
        except GeneratorExit:
            ENDED.append("closed")
            raise
        finally:
            ENDED_EVENT.set()

    @action(request_stream=True)
    async def Upload(self, request, context):
        return msg(count=len([item async for item in request]))

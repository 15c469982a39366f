import asyncio
import os
import time

from django.contrib import admin
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("hello from django")


async def slow(request):
    await asyncio.sleep(float(request.GET.get("seconds", "1")))
    return HttpResponse("slow done")


async def hold(request):
    """Streams "started", then waits until the file named by `marker` exists (at most `seconds`,
    default 30) and ends with "released" (or "timed out"): an HTTP request the tests can see
    in flight, and end when they choose."""
    marker, seconds = request.GET.get("marker", ""), float(request.GET.get("seconds", "30"))

    async def body():
        yield b"started\n"
        deadline = time.monotonic() + seconds
        while not (marker and os.path.exists(marker)) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        yield b"released\n" if marker and os.path.exists(marker) else b"timed out\n"

    return StreamingHttpResponse(body(), content_type="text/plain")


def exit_sync(request):
    """A library calling sys.exit() inside a view (argparse's parser.error() does)."""
    import sys

    sys.exit(3)


async def exit_async(request):
    raise KeyboardInterrupt


urlpatterns = [
    path("exit-sync/", exit_sync),
    path("exit-async/", exit_async),
    path("admin/", admin.site.urls),
    path("hello/", hello),
    path("slow/", slow),
    path("hold/", hold),
]

import asyncio

from django.contrib import admin
from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("hello from django")


async def slow(request):
    await asyncio.sleep(float(request.GET.get("seconds", "1")))
    return HttpResponse("slow done")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("hello/", hello),
    path("slow/", slow),
]

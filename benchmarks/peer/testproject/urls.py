"""The project's one page, `/hello/`: the sync view of tests/testproject (the start-up section's
hybrid row serves this project with our --with-http and waits for it; the peer serves no HTTP)."""
from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("hello from django")


urlpatterns = [path("hello/", hello)]

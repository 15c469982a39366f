from django.shortcuts import render

from library.models import Book


def book_list(request):
    return render(request, "library/book_list.html", {"books": Book.objects.all()})


def web_client(request):
    """A page that calls BookController from the browser (Connect over fetch, docs/web.md)."""
    return render(request, "library/web.html")

from django.contrib import admin
from django.urls import path
from library import views

from django_socio_grpc.utils.servicer_register import AppHandlerRegistry

urlpatterns = [
    path("", views.book_list, name="book-list"),
    path("web/", views.web_client, name="web-client"),
    path("admin/", admin.site.urls),
]


def grpc_handlers(server):
    """gRPC's counterpart of `urlpatterns` (the default ROOT_HANDLERS_HOOK)."""
    AppHandlerRegistry("library", server).register("BookService")  # library/services/book_service.py

"""`GenericService`: a Service bound to a model, named after it without the "Service" suffix."""
from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404

from django_socio_grpc.scope import WRITE_ACTIONS, module_getattr
from django_socio_grpc.services.base_service import Service


class GenericService(Service):
    queryset: QuerySet | None = None
    serializer_class: Any = None
    lookup_field: str = "pk"
    lookup_request_field: str | None = None
    service_name: str | None = None

    @classmethod
    def get_service_name(cls) -> str:
        if cls.service_name:
            return cls.service_name
        name = cls.__name__
        head, sep, tail = name.rpartition("Service")
        return head + tail if sep else name

    def get_queryset(self) -> QuerySet:
        if self.queryset is None:
            raise AssertionError(
                f"{type(self).__name__} should set `queryset` or override `get_queryset()`"
            )
        return self.queryset.all()

    def get_object(self) -> Model:
        """The object whose `lookup_field` equals the request's field of the same name.

        A missing object raises Django's Http404, which the server turns into NOT_FOUND.
        """
        field = self.lookup_request_field or self.lookup_field
        value = getattr(self.request, "id" if field == "pk" else field)
        return get_object_or_404(self.get_queryset(), **{self.lookup_field: value})


# django-socio-grpc's model services (built on its DRF serializer layer): not part of this project.
_MODEL_SERVICES = [
    f"{prefix}{name}Service"
    for prefix in ("", "Async")
    for name in ("Create", "List", "Stream", "Retrieve", "Destroy", "Update", "ListCreate", "ReadOnlyModel", "Model")
]
__getattr__ = module_getattr(__name__, {name: ("generic model services", WRITE_ACTIONS) for name in _MODEL_SERVICES})

"""What of django-socio-grpc is not part of this project, said in one sentence where it is used.

This project implements django-socio-grpc's server, registration, service, exception,
middleware, logging, settings and `generateproto` API; not its Django REST framework serializer
layer. Importing a name of that layer (from a stub module, or through a module `__getattr__`)
raises `OutOfScopeImportError`; declaring a `grpc_action` with a serializer or a placeholder
raises `OutOfScopeTypeError`. Both say what is missing and what to use instead.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

LAYER = "django-socio-grpc's DRF serializer layer"

# What to use instead, by feature.
DECLARE_FIELDS = (
    'declare the messages as field lists, e.g. grpc_action(request=[{"name": "id", "type": "int64"}], '
    'response=[...]), and build replies with the generated pb2 classes'
)
WRITE_ACTIONS = (
    "subclass django_socio_grpc.generics.GenericService (queryset, get_queryset(), get_object()) or "
    "django_socio_grpc.services.Service and write the actions (List, Retrieve, Create, ...) with grpc_action"
)
FILTER_IN_ACTION = "filter or paginate the queryset in the action, from fields of the request message"
CHECK_IN_HOOK = (
    "check permissions in the service's before_action() or in a GRPC_MIDDLEWARE and raise "
    "django_socio_grpc.exceptions.PermissionDenied or Unauthenticated"
)
CACHE_IN_ACTION = "cache in the action with django.core.cache, or in a GRPC_MIDDLEWARE"
NAMES_IN_ACTION = "name the messages with grpc_action(request_name=..., response_name=...) and declare their fields"


class OutOfScopeError(Exception):
    """Something of django-socio-grpc that this project does not implement was used."""


class OutOfScopeImportError(OutOfScopeError, ImportError):
    """A name of django-socio-grpc's DRF serializer layer was imported."""


class OutOfScopeTypeError(OutOfScopeError, TypeError):
    """A `grpc_action` was declared with a serializer, a placeholder or a generation plugin."""


def sentence(what: str, feature: str, instead: str) -> str:
    return f"{what} is part of {LAYER} ({feature}), which is not part of this project (hybrid-server): {instead}."


def unavailable(module: str, feature: str, instead: str) -> NoReturn:
    """Raise at the top of a stub module: importing it fails with one clear sentence."""
    raise OutOfScopeImportError(sentence(module, feature, instead), name=module)


def module_getattr(module: str, names: dict[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module `__getattr__` for `names` (name -> (feature, instead)); other names are missing as usual."""

    def __getattr__(name: str) -> Any:
        if name in names:
            feature, instead = names[name]
            raise OutOfScopeImportError(sentence(f"{module}.{name}", feature, instead), name=module)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

"""`grpc_action`: declares an RPC on a Service method and the messages it exchanges."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_socio_grpc.scope import (
    CACHE_IN_ACTION,
    DECLARE_FIELDS,
    OutOfScopeTypeError,
    module_getattr,
    sentence,
)
from hybrid_server.records import record

# A message declaration: a list of field dicts, or the name of an existing message
# ("google.protobuf.Empty", "OtherMessage").
MessageSpec = list[dict[str, Any]] | str

GRPC_ACTION_ATTR = "_grpc_action"


@record
class ActionSpec:
    """What `grpc_action` recorded about one RPC; read by the proto generator."""

    request: MessageSpec
    response: MessageSpec
    request_name: str | None = None
    response_name: str | None = None
    request_stream: bool = False
    response_stream: bool = False


def grpc_action(
    request: MessageSpec | None = None,
    response: MessageSpec | None = None,
    request_name: str | None = None,
    response_name: str | None = None,
    request_stream: bool = False,
    response_stream: bool = False,
    use_request_list: bool = False,
    use_response_list: bool = False,
    **_ignored: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a Service method as an RPC. Other keywords of the original API are accepted and ignored.

    A serializer or a placeholder as `request`/`response`, and `use_request_list` /
    `use_response_list`, belong to django-socio-grpc's DRF serializer layer: they fail with
    `OutOfScopeTypeError`, saying what to write instead.
    """
    for value, what in ((request, "request"), (response, "response")):
        if value is None or isinstance(value, (list, str)):
            continue
        kind = _out_of_scope_kind(value)
        if kind:
            raise OutOfScopeTypeError(sentence(f"{kind} as grpc_action({what}={_label(value)})", LAYER_PART, DECLARE_FIELDS))
        raise TypeError(f"grpc_action({what}=...) takes a list of field dicts or a message name, not {type(value).__name__}")
    for flag, value in (("use_request_list", use_request_list), ("use_response_list", use_response_list)):
        if value:
            raise OutOfScopeTypeError(sentence(
                f"grpc_action({flag}=True)", "list generation plugins",
                'declare the list yourself, e.g. response=[{"name": "results", "type": "Book", "cardinality": "repeated"}]',
            ))
    spec = ActionSpec(
        request=[] if request is None else request,
        response=[] if response is None else response,
        request_name=request_name,
        response_name=response_name,
        request_stream=bool(request_stream),
        response_stream=bool(response_stream),
    )

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, GRPC_ACTION_ATTR, spec)
        return function

    return decorate


LAYER_PART = "serializers and grpc_action placeholders"


def _out_of_scope_kind(value: Any) -> str | None:
    """"A serializer" for a DRF serializer (class or instance), "A placeholder" for one; else None."""
    cls = value if isinstance(value, type) else type(value)
    if "Serializer" in cls.__name__ or hasattr(cls, "to_representation"):
        return "A serializer"
    if "Placeholder" in cls.__name__:
        return "A placeholder"
    return None


def _label(value: Any) -> str:
    return getattr(value, "__name__", None) or type(value).__name__ + "(...)"


# django-socio-grpc's cache decorators and Django-decorator adapter: not part of this project.
__getattr__ = module_getattr(
    __name__,
    {
        name: ("cache decorators", CACHE_IN_ACTION)
        for name in ("cache_endpoint", "cache_endpoint_with_deleter", "vary_on_metadata", "http_to_grpc")
    },
)

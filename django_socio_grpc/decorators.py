"""`grpc_action`: declares an RPC on a Service method and the messages it exchanges."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A message declaration: a list of field dicts, or the name of an existing message
# ("google.protobuf.Empty", "OtherMessage").
MessageSpec = list[dict[str, Any]] | str

GRPC_ACTION_ATTR = "_grpc_action"


@dataclass(frozen=True)
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
    **_ignored: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a Service method as an RPC. Unknown keywords of the original API are accepted and ignored."""
    spec = ActionSpec(
        request=[] if request is None else request,
        response=[] if response is None else response,
        request_name=request_name,
        response_name=response_name,
        request_stream=bool(request_stream),
        response_stream=bool(response_stream),
    )
    for value, what in ((spec.request, "request"), (spec.response, "response")):
        if not isinstance(value, (list, str)):
            raise TypeError(
                f"grpc_action({what}=...) takes a list of field dicts or a message name, "
                f"not {type(value).__name__}"
            )

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, GRPC_ACTION_ATTR, spec)
        return function

    return decorate

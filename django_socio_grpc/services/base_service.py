"""`Service`: the class users subclass; one instance per RPC."""
from __future__ import annotations

from typing import Any, ClassVar

from django_socio_grpc.decorators import GRPC_ACTION_ATTR, ActionSpec
from django_socio_grpc.rpc.call import PLAIN_INIT
from django_socio_grpc.rpc.servicer import build_servicer
from django_socio_grpc.rpc.terminals import default_hook, is_async_callable

__all__ = ["Service", "is_async_callable"]


class Service:
    """A gRPC service whose `grpc_action` methods become RPCs.

    Each RPC gets a fresh instance with `request`, `context` and `action` set, then
    `before_action()`, the action, `after_action()`. Hooks and actions may be sync or async.
    """

    request: Any = None
    context: Any = None
    action: str | None = None

    _grpc_actions_cache: ClassVar[dict[str, ActionSpec] | None] = None

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    setattr(__init__, PLAIN_INIT, True)  # without initkwargs, a call's Service is only allocated (rpc.call)

    @classmethod
    def get_service_name(cls) -> str:
        return cls.__name__

    @classmethod
    def get_controller_name(cls) -> str:
        return f"{cls.get_service_name()}Controller"

    @classmethod
    def get_grpc_actions(cls) -> dict[str, ActionSpec]:
        """Actions by name, in definition order, inherited ones first."""
        cached = cls.__dict__.get("_grpc_actions_cache")
        if cached is not None:
            return cached
        actions: dict[str, ActionSpec] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                spec = getattr(member, GRPC_ACTION_ATTR, None)
                if isinstance(spec, ActionSpec):
                    actions[name] = spec
                elif name in actions and not name.startswith("_"):
                    # Overridden without the decorator: keep the parent's declaration.
                    if callable(member):
                        continue
                    del actions[name]
        cls._grpc_actions_cache = actions
        return actions

    @classmethod
    def as_servicer(cls, **initkwargs: Any) -> Any:
        """A grpc servicer object whose methods run this service's actions.

        Keyword arguments become attributes of every per-RPC instance; like Django's
        `as_view`, only names the class already defines are accepted.
        """
        for key in initkwargs:
            if key in cls.get_grpc_actions():
                raise TypeError(
                    f"{cls.__name__}.as_servicer() got {key!r}, which is an action name; "
                    "it would hide the action"
                )
            if not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}.as_servicer() received an invalid keyword {key!r}: "
                    "only attributes the class defines can be set"
                )
        return build_servicer(cls, initkwargs)

    @default_hook
    def before_action(self) -> Any:
        """Runs before every action; override (sync or async) for per-RPC set-up."""

    @default_hook
    def after_action(self) -> Any:
        """Runs after an action that succeeded (after the last message of a stream)."""

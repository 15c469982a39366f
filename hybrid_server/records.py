"""`@record`: a dataclass whose methods are shared, not generated.

`@dataclass(frozen=True)` writes the source of six methods per class and compiles it when the
module is imported: ~2.8 ms for the 35 fields of `Options` on the benchmark machine, ~10 ms
for the records a gRPC-only start imports on its way to the first answer (about 3 % of that
start; benchmarks section 5). `@record` makes the class a dataclass with no generated methods
(`dataclasses.fields`, `replace`, `is_dataclass`, the field declarations and their defaults
all work as before) and gives it these instead: construction by position or keyword with
the declared defaults and factories and `__post_init__`, a dataclass-style repr, equality
and hashing over the fields that take part, and, frozen (the default), `FrozenInstanceError`
on assignment. They run a loop over the fields where generated code would not; every record
here is built a few times per process, never per call, and reading a field is the same
attribute lookup either way.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: Any) -> Callable[[Any], Any]:
        return lambda function: function


T = TypeVar("T")
_MISSING = dataclasses.MISSING
_FIELDS = "__record_fields__"  # ((name, default, factory), ...) of the fields __init__ takes


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    fields = getattr(cls, _FIELDS)
    if len(args) > len(fields):
        raise TypeError(f"{cls.__name__}() takes {len(fields)} positional arguments but {len(args)} were given")
    for (name, _default, _factory), value in zip(fields, args, strict=False):  # args may be fewer
        if name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
        object.__setattr__(self, name, value)
    for name, default, factory in fields[len(args):]:
        if name in kwargs:
            value = kwargs.pop(name)
        elif default is not _MISSING:
            value = default
        elif factory is not _MISSING:
            value = factory()
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _values(self: Any, flag: str) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if getattr(f, flag))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self, "compare") == _values(other, "compare")


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self) if (f.compare if f.hash is None else f.hash)))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T] | None = None, /, *, frozen: bool = True) -> Any:
    """`@record` (frozen) or `@record(frozen=False)`: see the module docstring."""

    def make(cls: Any) -> Any:
        # A class without a docstring gets one from dataclasses, by inspect.signature() of a class
        # that still has object's __init__: that parses object's text signature with tokenize,
        # whose first use compiles its large regex (~5 ms of a start). Name the fields instead.
        undocumented = not cls.__dict__.get("__doc__")
        if undocumented:
            cls.__doc__ = "?"
        cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
        if undocumented:
            cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in dataclasses.fields(cls))})"
        methods: dict[str, Any] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq}
        if frozen:
            methods.update(__hash__=_hash, __setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
        else:
            methods["__hash__"] = None  # mutable and compared: unhashable, like a dataclass
        for name, method in methods.items():
            setattr(cls, name, method)
        setattr(cls, _FIELDS, tuple((f.name, f.default, f.default_factory) for f in dataclasses.fields(cls) if f.init))
        return cls

    return make if cls is None else make(cls)

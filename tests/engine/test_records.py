"""`@record` behaves like the dataclass it replaces, without compiling code at import."""
from __future__ import annotations

import dataclasses
import pickle

import pytest

from django_socio_grpc.decorators import ActionSpec
from django_socio_grpc.services.app_handler_registry import AppRegistration
from hybrid_server.config import Config, HttpLimits, Tls
from hybrid_server.grpc.handle import MethodRecord
from hybrid_server.grpc.runtime import AIO, THREADS, Runtime
from hybrid_server.options import Options
from hybrid_server.records import record


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class DataPoint:  # the same declaration as a generated dataclass: the reference behaviour
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", repr=False, compare=False)


@record(frozen=False)
class Counter:
    name: str
    hits: int = 0


def test_construction_by_position_and_keyword_with_defaults_and_factories():
    assert (Point(1).x, Point(1).y, Point(1).tags) == (1, 0, [])
    assert Point(1, 2, ["a"]).tags == ["a"] and Point(x=1, tags=["b"]).tags == ["b"]
    assert Point(1).tags is not Point(1).tags  # a fresh default from the factory each time


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "Point() missing required argument: 'x'"),
    ((1, 2, [], "n", 5), {}, "Point() takes 4 positional arguments but 5 were given"),
    ((1,), {"x": 2}, "Point() got multiple values for argument 'x'"),
    ((1,), {"z": 2}, "Point() got an unexpected keyword argument 'z'"),
])
def test_bad_arguments_say_what_is_wrong(args, kwargs, message):
    with pytest.raises(TypeError) as error:
        Point(*args, **kwargs)
    assert str(error.value) == message


def test_repr_equality_and_hash_match_the_generated_dataclass():
    ours, reference = Point(1, 2, ["a"], note="hidden"), DataPoint(1, 2, ["a"], note="hidden")
    assert repr(ours).replace("Point", "") == repr(reference).replace("DataPoint", "")
    assert "hidden" not in repr(ours)
    assert Point(1, 2) == Point(1, 2, note="other")  # `note` does not take part, as declared
    assert Point(1, 2) != Point(1, 3) and Point(1) != DataPoint(1)
    assert hash(Point(1, 2, ())) == hash(Point(1, 2, (), "x")) == hash(DataPoint(1, 2, ()))


def test_frozen_like_a_frozen_dataclass_and_still_a_dataclass():
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del point.x
    assert dataclasses.is_dataclass(point)
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags", "note"]
    moved = dataclasses.replace(point, y=5)
    assert (moved.x, moved.y, point.y) == (1, 5, 0)


def test_a_mutable_record_is_assignable_and_unhashable():
    counter = Counter("a")
    counter.hits += 1
    assert counter == Counter("a", 1)
    with pytest.raises(TypeError):
        hash(counter)


def test_post_init_and_fields_outside_init():
    runtime = Runtime(AIO, executor=None)
    assert runtime.orm_pool is None and Runtime(THREADS).orm_pool is None
    assert "orm_pool" not in repr(runtime) and runtime == Runtime(AIO)


def test_options_and_config_survive_pickling_to_a_supervised_child():
    options = Options(grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", max_workers=3)
    assert pickle.loads(pickle.dumps(options)) == options
    limits = HttpLimits(1.0, 2, 3)
    assert pickle.loads(pickle.dumps(limits)) == limits


@pytest.mark.parametrize("cls", [Options, Config, Tls, HttpLimits, MethodRecord, Runtime, ActionSpec, AppRegistration])
def test_the_records_on_the_start_path_compile_nothing_at_import(cls):
    """Generated dataclass methods are compiled from a string ('<string>'): none here."""
    methods = [getattr(cls, name) for name in ("__init__", "__repr__", "__eq__", "__setattr__", "__hash__")]
    generated = [m.__qualname__ for m in methods if getattr(getattr(m, "__code__", None), "co_filename", "") == "<string>"]
    assert generated == []
    assert dataclasses.is_dataclass(cls)


def test_a_record_without_a_docstring_is_documented_by_its_fields() -> None:
    @record
    class Bare:
        first: int
        second: str = "x"

    assert Bare.__doc__ == "Bare(first, second)"
    assert Bare(1).second == "x"

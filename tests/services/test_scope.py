"""django-socio-grpc's DRF serializer layer is out of scope, clearly: importing one of its names
at its documented path, or declaring a grpc_action with a serializer or a placeholder, fails with
one sentence saying so and what to use instead."""
from __future__ import annotations

from pathlib import Path

import pytest

from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.scope import OutOfScopeImportError, OutOfScopeTypeError

ROOT = Path(__file__).resolve().parents[2]

# The imports of django-socio-grpc's docs (and its modules' public names) for that layer.
IMPORTS = [
    "from django_socio_grpc import proto_serializers",
    "from django_socio_grpc.proto_serializers import ModelProtoSerializer",
    "from django_socio_grpc.proto_serializers import BaseProtoSerializer",
    "from django_socio_grpc.generics import AsyncModelService",
    "from django_socio_grpc.generics import ReadOnlyModelService",
    "from django_socio_grpc import generics; generics.ModelService",
    "from django_socio_grpc import generics; generics.AsyncListCreateService",
    "from django_socio_grpc import generics, mixins",
    "from django_socio_grpc.mixins import AsyncListModelMixin",
    "from django_socio_grpc import generics, filters",
    "from django_socio_grpc.filters import OrderingFilter",
    "from django_socio_grpc.permissions import GRPCActionBasePermission",
    "from django_socio_grpc.decorators import cache_endpoint, vary_on_metadata",
    "from django_socio_grpc.decorators import cache_endpoint_with_deleter",
    "from django_socio_grpc.decorators import http_to_grpc",
    "from django_socio_grpc.grpc_actions.placeholders import AttrPlaceholder, SelfSerializer",
    "from django_socio_grpc.grpc_actions.placeholders import Placeholder",
    "from django_socio_grpc.protobuf.generation_plugin import ListGenerationPlugin, FilterGenerationPlugin",
    "from django_socio_grpc.protobuf.message_name_constructor import MessageNameConstructor",
]


def one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".")
    assert "is part of django-socio-grpc's DRF serializer layer" in message
    assert "which is not part of this project (hybrid-server): " in message
    assert len(message.split("): ", 1)[1]) > 20  # and what to use instead


@pytest.mark.parametrize("statement", IMPORTS)
def test_importing_the_serializer_layer_says_it_is_out_of_scope(statement):
    with pytest.raises(OutOfScopeImportError) as info:
        exec(statement, {})
    assert isinstance(info.value, ImportError)  # `except ImportError` still catches it
    one_sentence(str(info.value))


def test_what_is_in_scope_still_imports():
    from django_socio_grpc import decorators, generics
    from django_socio_grpc.generics import GenericService  # noqa: F401
    from django_socio_grpc.protobuf.typing import FieldDict

    assert FieldDict(name="id", type="int64") == {"name": "id", "type": "int64"}
    assert not hasattr(generics, "NoSuchService")  # other missing names: AttributeError as usual
    assert not hasattr(decorators, "no_such_decorator")
    with pytest.raises(ImportError, match="cannot import name 'NoSuchService'"):
        exec("from django_socio_grpc.generics import NoSuchService", {})


class BookProtoSerializer:
    pass


class FnPlaceholder:  # the name of django-socio-grpc's placeholder classes
    def __init__(self, fn):
        self.fn = fn


@pytest.mark.parametrize(
    ("kwargs", "start"),
    [
        ({"request": BookProtoSerializer}, "A serializer as grpc_action(request=BookProtoSerializer)"),
        ({"response": BookProtoSerializer()}, "A serializer as grpc_action(response=BookProtoSerializer(...))"),
        ({"response": FnPlaceholder(lambda service: service)}, "A placeholder as grpc_action(response=FnPlaceholder(...))"),
        ({"request": [], "use_request_list": True}, "grpc_action(use_request_list=True)"),
        ({"response": [], "use_response_list": True}, "grpc_action(use_response_list=True)"),
    ],
)
def test_grpc_action_with_a_serializer_or_a_placeholder(kwargs, start):
    with pytest.raises(OutOfScopeTypeError) as info:
        grpc_action(**kwargs)
    assert isinstance(info.value, TypeError)
    assert str(info.value).startswith(start)
    one_sentence(str(info.value))


def test_grpc_action_with_a_drf_serializer():
    serializers = pytest.importorskip("rest_framework.serializers")

    class BookSerializer(serializers.Serializer):
        title = serializers.CharField()

    class PlainNamed(serializers.Serializer):  # a serializer whatever its name
        pass

    for value in (BookSerializer, BookSerializer(), PlainNamed, PlainNamed(many=True)):
        with pytest.raises(OutOfScopeTypeError, match=r"^A serializer as grpc_action"):
            grpc_action(request=[], response=value)


def test_the_readme_states_the_scope_on_its_first_screen():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:25])
    assert "serializer layer is *not* part of this project" in first_screen
    for name in ("ModelProtoSerializer", "AsyncModelService", "filters", "pagination", "cache decorators"):
        assert name in first_screen

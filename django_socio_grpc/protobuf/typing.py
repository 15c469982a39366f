"""`FieldDict`: the shape of one field of a `grpc_action` field list (django-socio-grpc's name)."""
from __future__ import annotations

from typing import Literal, TypedDict


class FieldDict(TypedDict, total=False):
    name: str  # required
    type: str  # required: a proto scalar, a google.protobuf well-known type or a message of the file
    cardinality: Literal["repeated", "optional"]
    comment: str | list[str]

"""The proto model and its text: every action kind, shared messages, invalid declarations."""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_socio_grpc.exceptions import ProtobufGenerationException
from django_socio_grpc.protobuf import compile_protos, generate_proto_files
from django_socio_grpc.services.app_handler_registry import AppRegistration
from tests.protobuf.declarations import EXPECTED_PROTO, AuthorService, BookService, generate_one, make_service


def test_proto_text_for_every_action_kind() -> None:
    registration = AppRegistration("shop.library", "grpc", [BookService, AuthorService])
    texts = generate_proto_files("shop", [registration])
    assert texts == {"shop.library": EXPECTED_PROTO}
    # Deterministic: a second run renders byte for byte the same.
    assert generate_proto_files("shop", [registration]) == texts


def test_identical_message_declared_twice_is_emitted_once() -> None:
    fields = [{"name": "x", "type": "int32"}]
    first = make_service("First", fields, request_name="Shared")
    second = make_service("Second", fields, request_name="Shared", response=fields, response_name="Shared")
    text = generate_one([first, second])
    assert text.count("message Shared {") == 1


def test_same_message_name_with_other_fields_is_an_error() -> None:
    first = make_service("First", [{"name": "x", "type": "int32"}], request_name="Shared")
    second = make_service("Second", [{"name": "y", "type": "int32"}], request_name="Shared")
    with pytest.raises(ProtobufGenerationException, match=r"Second\.Do request.*'Shared'.*First\.Do"):
        generate_one([first, second])


@pytest.mark.parametrize(
    ("request_spec", "extra", "expected"),
    [
        ([{"name": "bad name", "type": "string"}], {}, r"field 'bad name': invalid field name"),
        ([{"name": "x", "type": "strng"}], {}, r"field 'x': unknown type 'strng'"),
        ([{"name": "x", "type": "int32"}, {"name": "x", "type": "string"}], {}, r"field 'x': duplicate field name"),
        ([{"name": "x", "type": "int32", "cardinality": "many"}], {}, r"field 'x': invalid cardinality 'many'"),
        (["x"], {}, r"field #1: expected a dict"),
        ([{"name": "x"}], {}, r"field 'x': missing 'type'"),
        ([{"type": "int32"}], {}, r"field #1: missing 'name'"),
        ([{"name": "x", "type": "int32", "kind": 1}], {}, r"field 'x': unknown key\(s\) kind"),
        ([{"name": "foo_bar", "type": "int32"}, {"name": "fooBar", "type": "int32"}], {}, r"'fooBar' clashes"),
        ([{"name": "x", "type": "int32"}], {"request_name": "1Bad"}, r"invalid message name '1Bad'"),
        ([{"name": "x", "type": "int32"}], {"request_name": "message"}, r"reserved word"),
        ("Undefined", {}, r"unknown type 'Undefined'"),
        ("google.protobuf.NullValue", {}, r"is an enum"),
        ("google.protobuf.Nope", {}, r"unknown well-known type 'google.protobuf.Nope'"),
    ],
)
def test_invalid_declarations_name_service_action_and_field(request_spec: Any, extra: dict, expected: str) -> None:
    broken = make_service("Broken", request_spec, **extra)
    with pytest.raises(ProtobufGenerationException) as caught:
        generate_one([broken])
    assert str(caught.value).startswith("Broken.Do request")
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_message_named_like_a_service_is_an_error() -> None:
    service = make_service("Clash", [{"name": "x", "type": "int32"}], request_name="ClashController")
    with pytest.raises(ProtobufGenerationException, match="has the name of a service"):
        generate_one([service])



def test_control_characters_in_comments_are_written_as_escapes() -> None:
    service = make_service("Thing", [{"name": "x", "type": "int32", "comment": "a\x00b\x9c\tc\x85d"}])
    text = generate_one([service])
    assert "    // a\\x00b\\x9c\tc\n    // d\n    int32 x = 1;" in text  # \x85 is a line break to Python


# ---------------------------------------------------------------------- property


FIELD_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True),
    st.sampled_from(
        ["message", "option", "reserved", "syntax", "optional", "repeated", "map", "max", "true", "class",
         "None", "google", "_", "__", "_a", "A_", "x1", "x_1", "1abc", "a-b", "", "ok name", "ü", "a.b"]
    ),
)
FIELD_TYPES = st.sampled_from(
    ["int32", "string", "bytes", "sfixed64", "bool", "Other", "google.protobuf.Timestamp",
     "google.protobuf.Int64Value", "google.protobuf.NullValue", "google.protobuf.Nope", "int", "Missing", ""]
)
FIELDS = st.lists(
    st.fixed_dictionaries(
        {"name": FIELD_NAMES, "type": FIELD_TYPES},
        optional={"cardinality": st.sampled_from(["repeated", "optional", "", "many"]), "comment": st.text(max_size=8)},
    ),
    max_size=6,
)


def test_random_declarations_either_fail_cleanly_or_compile() -> None:
    sources: dict[PurePosixPath, str] = {}
    rejected: list[str] = []

    # No deadline and no "too slow" health check: a loaded machine must not fail the test.
    @hypothesis_settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(FIELDS)
    @example([{"name": "x", "type": "Other", "cardinality": "repeated", "comment": "*/ //"}])
    @example([{"name": "x", "type": "int32"}, {"name": "X", "type": "int32"}, {"name": "_x", "type": "int32"}])
    @example([{"name": "x", "type": "int32", "comment": "a\x00\x9cb\x85c"}])  # protoc stops at a NUL, even in a comment
    def generate(fields: list[dict]) -> None:
        service = make_service(
            "Thing", fields, response=[{"name": "v", "type": "int32"}], response_name="Other"
        )
        app = f"app{len(sources)}"
        try:
            text = generate_one([service], app=app)
        except ProtobufGenerationException as exc:
            assert str(exc).startswith("Thing.Do request")
            rejected.append(str(exc))
            return
        sources[PurePosixPath(app, f"{app}.proto")] = text

    generate()
    assert sources, "at least the explicit examples generate"
    assert any("clashes" in message for message in rejected)  # x / X / _x: "_x" clashes with "X"
    generated = compile_protos(sources)  # raises ProtocError with protoc's message on failure
    assert len(generated) == 3 * len(sources)

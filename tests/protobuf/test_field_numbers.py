"""Field numbers: stable across regenerations, removed ones reserved, the previous file parsed."""
from __future__ import annotations

from pathlib import PurePosixPath

from django_socio_grpc.protobuf import compile_protos
from django_socio_grpc.protobuf.field_numbers import parse_previous_proto
from django_socio_grpc.services.base_service import Service
from tests.protobuf.declarations import fields_of, generate_one, make_service


def test_field_numbers_stay_stable_and_removed_fields_are_reserved() -> None:
    def version(*names: str) -> type[Service]:
        return make_service("Thing", [{"name": n, "type": "string"} for n in names], request_name="Req")

    v1 = generate_one([version("a", "b", "c")])
    assert fields_of(v1, "Req") == {"a": 1, "b": 2, "c": 3}

    # Reorder, remove b, add d: a and c keep their numbers, d goes above everything used.
    v2 = generate_one([version("c", "a", "d")], previous=v1)
    assert fields_of(v2, "Req") == {"c": 3, "a": 1, "d": 4}
    assert "    reserved 2;\n    reserved \"b\";\n    string c = 3;\n    string a = 1;\n" in v2

    # Remove d, bring b back: b gets a fresh number (2 stays reserved), its name is freed.
    v3 = generate_one([version("c", "a", "b")], previous=v2)
    assert fields_of(v3, "Req") == {"c": 3, "a": 1, "b": 5}
    assert parse_previous_proto(v3)["Req"].reserved_numbers == {2, 4}
    assert parse_previous_proto(v3)["Req"].reserved_names == {"d"}

    # Unchanged declarations regenerate the same text.
    assert generate_one([version("c", "a", "b")], previous=v3) == v3
    generated = compile_protos({PurePosixPath("app/grpc/app.proto"): v3})
    assert PurePosixPath("app/grpc/app_pb2.py") in generated


def test_previous_proto_parsing_tolerates_comments_options_and_nesting() -> None:
    previous = """
    syntax = "proto3"; /* block
    comment */ package proj.app;
    message Req {
        // string ghost = 9;
        option deprecated = true;
        reserved 2, 5 to 7, 11;
        reserved "old", 'older';
        message Inner { int32 deep = 40; }
        repeated string a = 1 [json_name = "aa"];
        optional google.protobuf.Timestamp when = 3;  // trailing
        map<string, int32> counts = 4;
    }
    """
    parsed = parse_previous_proto(previous)["Req"]
    assert parsed.numbers == {"a": 1, "when": 3, "counts": 4}
    assert parsed.reserved_numbers == {2, 5, 6, 7, 11}
    assert parsed.reserved_names == {"old", "older"}
    service = make_service("Thing", [{"name": "a", "type": "string"}, {"name": "n", "type": "int32"}], request_name="Req")
    text = generate_one([service], previous=previous)
    assert fields_of(text, "Req") == {"a": 1, "n": 12}
    assert "reserved 2 to 7, 11;" in text and 'reserved "counts", "old", "older", "when";' in text

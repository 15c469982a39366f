"""generateproto's django-socio-grpc options: the short flags, --custom-verbose,
--override-fields-number and --extra-args (in the documented `-a --mypy_out=./ ...` form)."""
from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from google.protobuf import descriptor_pb2

from django_socio_grpc.management.commands.generateproto import Command
from tests.protobuf.declarations import BookService, fields_of, make_service
from tests.protobuf.temp_app import TempApp


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("generateproto", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def parse(*argv: str) -> dict[str, Any]:
    """What manage.py generateproto ARGV gives the command (the parser run_from_argv uses)."""
    options = vars(Command().create_parser("manage.py", "generateproto").parse_args(list(argv)))
    return {key: options[key] for key in ("project", "dry_run", "no_generate_pb2", "check", "custom_verbose",
                                          "directory", "override_fields_number", "extra_args")}


def test_short_flags_are_the_long_options():
    short = parse("-p", "shop", "-dr", "-nopb2", "-c", "-cv", "3", "-d", "out", "-ofn", "-a", "--mypy_out=./")
    long = parse("--project", "shop", "--dry-run", "--no-generate-pb2", "--check", "--custom-verbose", "3",
                 "--directory", "out", "--override-fields-number", "--extra-args=--mypy_out=./")
    assert short == long == {
        "project": "shop", "dry_run": True, "no_generate_pb2": True, "check": True, "custom_verbose": 3,
        "directory": "out", "override_fields_number": True, "extra_args": ["--mypy_out=./"],
    }
    assert parse() == {
        "project": None, "dry_run": False, "no_generate_pb2": False, "check": False, "custom_verbose": 0,
        "directory": None, "override_fields_number": False, "extra_args": [],
    }


def test_extra_args_take_protoc_options_as_documented():
    # django-socio-grpc's example; argparse alone rejects values starting with "-".
    assert parse("-a", "--mypy_out=./", "--mypy_grpc_out=./")["extra_args"] == ["--mypy_out=./", "--mypy_grpc_out=./"]
    options = parse("-a", "--mypy_out=./", "-I", "protos", "-c", "--extra-args", "--x_out=.", "-p", "shop")
    assert options["extra_args"] == ["--mypy_out=./", "-I", "protos", "--x_out=."]
    assert (options["check"], options["project"]) == (True, "shop")  # our own options end the list
    with pytest.raises(CommandError, match="expected at least one argument"):
        call_command("generateproto", "-a")


def test_short_flags_work_in_a_run(temp_app: TempApp, tmp_path: Path) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    out, _ = run("-p", "shop", "-dr")
    assert f"package shop.{temp_app.name};" in out and not temp_app.grpc_dir.exists()
    run("-p", "shop", "-nopb2")
    assert sorted(path.name for path in temp_app.grpc_dir.iterdir()) == ["__init__.py", f"{temp_app.name}.proto"]
    assert "up to date" in run("-p", "shop", "-c")[0]
    run("-p", "shop", "-d", str(tmp_path / "elsewhere"), "-nopb2")
    assert (tmp_path / "elsewhere" / f"{temp_app.name}.proto").is_file()


@pytest.mark.parametrize("flag", ["--override-fields-number", "-ofn"])
def test_override_fields_number_numbers_afresh(temp_app: TempApp, flag: str) -> None:
    fields = [{"name": "a", "type": "string"}, {"name": "b", "type": "int32"}]
    temp_app.handlers.SERVICES = [make_service("Thing", fields, request_name="Req")]
    run("-p", "proj", "-nopb2")
    proto = temp_app.grpc_dir / f"{temp_app.name}.proto"
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "c", "type": "bool"}, fields[0]], request_name="Req")]

    out, _ = run("-p", "proj", "-dr")  # the default follows the existing numbers
    assert fields_of(out.split("\n", 1)[1], "Req") == {"c": 3, "a": 1} and "reserved 2;" in out

    run("-p", "proj", "-nopb2", flag)
    assert fields_of(proto.read_text(), "Req") == {"c": 1, "a": 2}  # declaration order, nothing reserved
    assert "reserved" not in proto.read_text()


def test_extra_args_reach_protoc_and_their_files_are_written(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = [BookService]
    out, _ = run("-p", "shop", "-a", "--descriptor_set_out=./descriptors.pb", "--include_imports")
    descriptors = temp_app.root / "descriptors.pb"  # relative to the root the proto paths are relative to
    assert str(descriptors) in out.splitlines()
    names = [file.name for file in descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()).file]
    assert f"{temp_app.name}/grpc/{temp_app.name}.proto" in names
    assert "google/protobuf/timestamp.proto" in names  # --include_imports did its part
    pb2 = temp_app.import_generated("pb2")  # and the usual code is there too
    assert pb2.Book.DESCRIPTOR.fields_by_name["title"].number == 1


def test_extra_args_asking_for_their_own_stubs_replace_ours(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    run("-p", "proj", "-a", "--pyi_out=./")  # protoc refuses to write one .pyi twice: ours is left out
    assert (temp_app.grpc_dir / f"{temp_app.name}_pb2.pyi").is_file()


def test_a_bad_extra_arg_is_protoc_s_error_and_writes_nothing(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    with pytest.raises(CommandError, match="protoc failed"):
        run("-p", "proj", "-a", "--no_such_plugin_out=./")
    assert not temp_app.grpc_dir.exists()


def test_custom_verbose_levels(temp_app: TempApp) -> None:
    fields = [{"name": "a", "type": "string"}]
    temp_app.handlers.SERVICES = [make_service("Thing", fields, request_name="Req")]
    run("-p", "proj", "-nopb2")
    temp_app.handlers.SERVICES = [make_service("Thing", [*fields, {"name": "b", "type": "int32"}], request_name="Req")]
    said = {level: run("-p", "proj", "-dr", "-cv", str(level))[1].splitlines() for level in range(5)}
    assert said[0] == []
    assert said[1] == [f"app {temp_app.name}: {temp_app.grpc_dir / f'{temp_app.name}.proto'}"]
    assert said[2] == [*said[1], "  service ThingController: 1 rpc(s)", "  rpc Do(Req) returns (ThingDoResponse);"]
    assert said[3] == [*said[2], "  message Req: a = 1, b = 2", "  message ThingDoResponse: ok = 1"]
    assert said[4] == [
        *said[2],
        "  message Req: a = 1, b = 2",
        "    Req.a = 1: kept from the existing .proto",
        "    Req.b = 2: new",
        "  message ThingDoResponse: ok = 1",
        "    ThingDoResponse.ok = 1: kept from the existing .proto",
    ]
    assert run("-p", "proj", "-dr", "-cv", "9")[1].splitlines() == said[4]  # above 4: everything

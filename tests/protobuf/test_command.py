"""`manage.py generateproto`: writes, compiles and imports; --check, --dry-run, --directory;
errors of declarations, protoc and the hook are command errors that write nothing."""
from __future__ import annotations

import importlib
import os
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from google.protobuf import descriptor_pb2

from django_socio_grpc.protobuf.model import ProtoFile
from tests.protobuf.declarations import EXPECTED_PROTO, AuthorService, BookService, fields_of, make_service
from tests.protobuf.temp_app import TempApp


def run(*args: str, **options: Any) -> str:
    out = StringIO()
    if "--project" not in args:
        args = (*args, "--project", "proj")
    call_command("generateproto", *args, stdout=out, **options)
    return out.getvalue()



@pytest.mark.parametrize("hook", ["grpc_handlers", "async_grpc_handlers"])
def test_command_writes_compiles_and_imports_from_any_cwd(
    temp_app: TempApp, hook: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp_app.handlers.SERVICES = [BookService, AuthorService]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with temp_app.use_hook(hook):
        out = run("--project", "shop")
    name, grpc_dir = temp_app.name, temp_app.grpc_dir
    expected_files = [grpc_dir / "__init__.py", grpc_dir / f"{name}.proto"] + [
        grpc_dir / f"{name}{suffix}" for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
    ]
    assert out.splitlines() == [str(path) for path in expected_files]
    assert all(path.is_file() for path in expected_files)
    assert list(elsewhere.iterdir()) == []
    assert (grpc_dir / f"{name}.proto").read_text() == EXPECTED_PROTO.replace("shop.library", f"shop.{name}")
    assert f"from {name}.grpc import {name}_pb2" in (grpc_dir / f"{name}_pb2_grpc.py").read_text()

    pb2 = temp_app.import_generated("pb2")
    pb2_grpc = temp_app.import_generated("pb2_grpc")
    book = pb2.Book.DESCRIPTOR
    assert [(f.name, f.number) for f in book.fields] == [("title", 1), ("tags", 2), ("published", 3), ("rating", 4)]
    assert book.fields_by_name["tags"].is_repeated and book.fields_by_name["rating"].has_presence
    assert book.fields_by_name["published"].message_type.full_name == "google.protobuf.Timestamp"
    assert pb2.Book(title="t", tags=["x"]).tags == ["x"]
    assert callable(pb2_grpc.add_BookServiceControllerServicer_to_server)
    assert callable(pb2_grpc.add_AuthorControllerServicer_to_server)
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(pb2.DESCRIPTOR.serialized_pb)
    methods = {m.name: (m.client_streaming, m.server_streaming) for m in file_proto.service[0].method}
    assert methods == {
        "Retrieve": (False, False),
        "Stream": (False, True),
        "Collect": (True, False),
        "Chat": (True, True),
        "Ping": (False, False),
    }


def test_a_run_that_changes_nothing_rewrites_no_file(temp_app: TempApp) -> None:
    """A `--dev` server watching the tree must not reload for it (nor a reader see a half-written file)."""
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}], request_name="Req")]
    first = run().splitlines()
    for path in first:
        os.utime(path, ns=(0, 0))  # a rewrite, however fast, would show
    assert run().splitlines() == [path for path in first if not path.endswith("__init__.py")]  # listed when created
    assert {path: Path(path).stat().st_mtime_ns for path in first} == dict.fromkeys(first, 0)
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "b", "type": "int32"}], request_name="Req")]
    run()
    changed = {path for path in first if Path(path).stat().st_mtime_ns != 0}
    assert changed and all(path.endswith((".proto", "_pb2.py", "_pb2.pyi")) for path in changed), changed


def test_regeneration_through_the_command_keeps_numbers(temp_app: TempApp) -> None:
    fields = [{"name": "a", "type": "string"}, {"name": "b", "type": "int32"}]
    temp_app.handlers.SERVICES = [make_service("Thing", fields, request_name="Req")]
    run("--no-generate-pb2")
    proto = temp_app.grpc_dir / f"{temp_app.name}.proto"
    assert sorted(p.name for p in temp_app.grpc_dir.iterdir()) == ["__init__.py", proto.name]

    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "c", "type": "bool"}, fields[0]], request_name="Req")]
    run()
    assert fields_of(proto.read_text(), "Req") == {"c": 3, "a": 1}
    assert "reserved 2;" in proto.read_text()
    pb2 = temp_app.import_generated("pb2")
    assert [(f.name, f.number) for f in pb2.Req.DESCRIPTOR.fields] == [("c", 3), ("a", 1)]


def test_check_reports_missing_and_stale_then_up_to_date(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    out = StringIO()
    with pytest.raises(CommandError) as missing:
        call_command("generateproto", "--check", "--project", "proj", stdout=out)
    assert missing.value.returncode == 1
    assert "(missing)" in out.getvalue() and "+message ThingDoRequest {" in out.getvalue()
    assert not temp_app.grpc_dir.exists()

    run("--no-generate-pb2")
    assert "up to date" in run("--check")

    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}, {"name": "z", "type": "int64"}])]
    out = StringIO()
    with pytest.raises(CommandError) as stale:
        call_command("generateproto", "--check", "--project", "proj", stdout=out)
    assert stale.value.returncode == 1
    assert "+    int64 z = 2;" in out.getvalue()


def test_dry_run_prints_and_writes_nothing(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = [BookService]
    out = run("--dry-run", "--project", "shop")
    assert "service BookServiceController {" in out and f"package shop.{temp_app.name};" in out
    assert not temp_app.grpc_dir.exists()


def test_directory_option_writes_there(temp_app: TempApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    out_dir = tmp_path / "out"
    out = run("--directory", str(out_dir))
    name = temp_app.name
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{name}{suffix}" for suffix in (".proto", "_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
    )
    assert len(out.splitlines()) == 4 and not temp_app.grpc_dir.exists()
    monkeypatch.syspath_prepend(str(out_dir))
    try:
        pb2_grpc = importlib.import_module(f"{name}_pb2_grpc")
        assert callable(pb2_grpc.add_ThingControllerServicer_to_server)
        assert [f.name for f in importlib.import_module(f"{name}_pb2").ThingDoRequest.DESCRIPTOR.fields] == ["a"]
    finally:
        sys.modules.pop(f"{name}_pb2_grpc", None)
        sys.modules.pop(f"{name}_pb2", None)


def test_invalid_declaration_fails_the_command_without_writing(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = [make_service("Broken", [{"name": "ok", "type": "int32"}, {"name": "no-dash", "type": "int32"}])]
    with pytest.raises(CommandError, match=r"Broken\.Do request field 'no-dash': invalid field name"):
        run()
    assert not temp_app.grpc_dir.exists()


def test_protoc_failure_is_a_command_error_and_writes_nothing(temp_app: TempApp, monkeypatch: pytest.MonkeyPatch) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    monkeypatch.setattr(ProtoFile, "render", lambda self: 'syntax = "proto3";\nmessage Broken { int32 = ; }\n')
    with pytest.raises(CommandError, match=r"protoc failed .*\n.*\.proto:2:\d+: "):
        run()
    assert not (temp_app.grpc_dir / f"{temp_app.name}.proto").exists()


def test_project_defaults_to_the_settings_package(temp_app: TempApp, monkeypatch: pytest.MonkeyPatch) -> None:
    temp_app.handlers.SERVICES = [make_service("Thing", [{"name": "a", "type": "string"}])]
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "mysite.settings.dev")
    out = StringIO()
    call_command("generateproto", "--dry-run", stdout=out)
    assert f"package mysite.{temp_app.name};" in out.getvalue()


def test_no_registered_service_names_the_hook(temp_app: TempApp) -> None:
    temp_app.handlers.SERVICES = []
    with pytest.raises(CommandError, match=rf"{temp_app.name}\.handlers\.grpc_handlers registered no service") as caught:
        run()
    assert caught.value.returncode == 1


def test_failing_hook_surfaces_with_its_path(temp_app: TempApp) -> None:
    with temp_app.use_hook("broken_hook"):
        with pytest.raises(CommandError, match=rf"{temp_app.name}\.handlers\.broken_hook failed with RuntimeError: boom"):
            run()
    with temp_app.use_hook("missing_hook"):
        with pytest.raises(CommandError, match=rf"{temp_app.name}\.handlers\.missing_hook"):
            run()

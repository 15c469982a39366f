"""Generated protos on disk: where each app's .proto goes, and writing it with its compiled code.

Everything is planned (and validated) first, then compiled in a scratch directory, then written,
so a bad declaration or a protoc failure leaves the previous files untouched.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django_socio_grpc.exceptions import ProtobufGenerationException
from django_socio_grpc.protobuf.compiler import compile_protos, generated_paths
from django_socio_grpc.protobuf.field_numbers import PreviousMessage, parse_previous_proto
from django_socio_grpc.protobuf.generation import build_proto_file
from django_socio_grpc.protobuf.model import ProtoFile
from django_socio_grpc.services.app_handler_registry import AppRegistration


@dataclass
class ProtoTarget:
    """Where one app's proto goes: `root / relative_path`, compiled with `-I root`."""

    registration: AppRegistration
    root: Path
    relative_path: PurePosixPath
    text: str
    grpc_package_dir: Path | None = None  # created with an __init__.py when missing
    proto: ProtoFile | None = None  # the model `text` renders
    previous: dict[str, PreviousMessage] = field(default_factory=dict)  # numbers the generation followed

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.relative_path.parts)


def app_location(app_name: str) -> tuple[Path, PurePosixPath]:
    """(sys.path root holding the app's top-level package, app directory relative to it)."""
    module = importlib.import_module(app_name)
    if getattr(module, "__file__", None):
        app_dir = Path(module.__file__).resolve().parent  # type: ignore[arg-type]
    else:
        app_dir = Path(next(iter(module.__path__))).resolve()
    parts = app_name.split(".")
    root = app_dir
    for _ in parts:
        root = root.parent
    return root, PurePosixPath(*parts)


def plan_targets(
    project: str,
    registrations: Iterable[AppRegistration],
    directory: str | os.PathLike[str] | None = None,
    override_fields_number: bool = False,
) -> list[ProtoTarget]:
    """Every app's proto text and destination, validated; nothing is written.

    Field numbers follow the proto already at the destination, unless `override_fields_number`
    (generateproto `--override-fields-number`): then fields are numbered afresh, in declaration
    order, which can break existing clients.
    """
    targets: list[ProtoTarget] = []
    for registration in registrations:
        label = registration.app_label
        if directory is not None:
            root, relative, package_dir = Path(directory).resolve(), PurePosixPath(f"{label}.proto"), None
        else:
            root, app_relative = app_location(registration.app_name)
            folder = app_relative.joinpath(*registration.grpc_folder.replace("/", ".").split("."))
            relative = folder / f"{label}.proto"
            package_dir = root.joinpath(*folder.parts)
        path = root.joinpath(*relative.parts)
        if any(target.path == path for target in targets):
            raise ProtobufGenerationException(
                f"apps {registration.app_name!r} and another app would both write {path}"
            )
        previous = None if override_fields_number or not path.is_file() else path.read_text(encoding="utf-8")
        proto = build_proto_file(project, registration, previous)
        targets.append(
            ProtoTarget(
                registration, root, relative, proto.render(), package_dir, proto,
                parse_previous_proto(previous) if previous else {},
            )
        )
    return targets


def write_targets(targets: list[ProtoTarget], generate_pb2: bool = True, extra_args: Sequence[str] = ()) -> list[Path]:
    """Compiles every proto first (in a scratch directory), then writes protos and code.

    `extra_args` go to protoc (generateproto `--extra-args`); the files they make under relative
    output paths are written relative to the target's root, like the generated code. With them
    each app is compiled on its own, as django-socio-grpc does.
    """
    compiled: list[tuple[ProtoTarget, dict[PurePosixPath, bytes]]] = []
    if generate_pb2:
        sources = {target.relative_path: target.text for target in targets}
        if len(sources) == len(targets) and not extra_args:
            together = compile_protos(sources)
            compiled = [
                (target, {path: together[path] for path in generated_paths(target.relative_path) if path in together})
                for target in targets
            ]
        else:  # extra outputs, or the same relative path under different roots: one by one
            compiled = [(target, compile_protos({target.relative_path: target.text}, extra_args)) for target in targets]
    outputs = {id(target): files for target, files in compiled}
    written: list[Path] = []
    for target in targets:
        if target.grpc_package_dir is not None:
            target.grpc_package_dir.mkdir(parents=True, exist_ok=True)
            init = target.grpc_package_dir / "__init__.py"
            if not init.exists():
                init.write_text("", encoding="utf-8")
                written.append(init)
        target.path.parent.mkdir(parents=True, exist_ok=True)
        _write_if_changed(target.path, target.text.encode("utf-8"))
        written.append(target.path)
        files = outputs.get(id(target), {})
        known = generated_paths(target.relative_path)
        for relative in [*(path for path in known if path in files), *sorted(set(files) - set(known))]:
            destination = target.root.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(destination, files[relative])
            written.append(destination)
    importlib.invalidate_caches()
    return written


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave a file that already holds `data` untouched: a `--dev` server watching the tree
    does not reload for a generateproto that changed nothing, and a process importing the
    module meanwhile never reads a half-written file."""
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    path.write_bytes(data)

"""Running grpcio-tools' protoc on generated .proto text.

protoc runs in a subprocess because `grpc_tools.protoc.main` reports errors on the
process's stderr file descriptor, which Python cannot capture in-process. It compiles in a
scratch directory laid out like the real root (same relative paths, hence the same imports
in the generated code), so nothing is written next to the app unless compilation succeeded.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path, PurePosixPath

from django_socio_grpc.exceptions import ProtobufGenerationException

PROTOC_TIMEOUT = 120.0


class ProtocError(ProtobufGenerationException):
    """protoc rejected a generated file; the message holds protoc's own output."""


def grpc_tools_include() -> Path:
    """Directory holding google/protobuf/*.proto as shipped with grpcio-tools."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


def generated_paths(proto: PurePosixPath) -> list[PurePosixPath]:
    """Files protoc writes for `proto`: message code, its type stubs and the gRPC code."""
    stem = proto.with_suffix("").name
    return [proto.with_name(f"{stem}{suffix}") for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")]


def protoc_command(
    include_root: Path, protos: list[PurePosixPath], out: Path, extra_args: Sequence[str] = ()
) -> list[str]:
    """`python -m grpc_tools.protoc` arguments compiling `protos` (relative to `include_root`).

    `extra_args` come after the output options (generateproto `--extra-args`); when they ask
    for type stubs of their own (`--pyi_out`, mypy-protobuf's `--mypy_out`), ours are left out,
    since protoc refuses to write one file twice.
    """
    stubs = not any(arg.startswith(("--pyi_out", "--mypy_out")) for arg in extra_args)
    return [
        sys.executable,
        # Do not put the working directory first on sys.path (`-P` is Python 3.11+; the scratch
        # directory it runs in holds nothing importable anyway).
        *(["-P"] if sys.version_info >= (3, 11) else []),
        "-m",
        "grpc_tools.protoc",
        f"-I{include_root}",
        f"-I{grpc_tools_include()}",
        f"--python_out={out}",
        *([f"--pyi_out={out}"] if stubs else []),
        f"--grpc_python_out={out}",
        *extra_args,
        *(str(proto) for proto in protos),
    ]


def compile_protos(
    sources: Mapping[PurePosixPath, str], extra_args: Sequence[str] = ()
) -> dict[PurePosixPath, bytes]:
    """Compiles proto texts keyed by their path relative to the import root.

    Returns the generated files keyed the same way (with `extra_args`, also whatever else protoc
    wrote under the scratch root, e.g. `--descriptor_set_out=./x.pb` as `x.pb`); raises
    `ProtocError` with protoc's diagnostics when any source does not compile.
    """
    if not sources:
        return {}
    with tempfile.TemporaryDirectory(prefix="generateproto-") as scratch:
        root = Path(scratch)
        for relative, text in sources.items():
            destination = root.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text, encoding="utf-8")
        try:
            completed = subprocess.run(
                protoc_command(root, list(sources), root, extra_args),
                cwd=root,
                capture_output=True,
                text=True,
                timeout=PROTOC_TIMEOUT,
                env={**os.environ, "PYTHONSAFEPATH": "1"},
            )
        except subprocess.TimeoutExpired as exc:
            raise ProtocError(f"protoc did not finish within {PROTOC_TIMEOUT:.0f}s") from exc
        output = "\n".join(part.strip() for part in (completed.stderr, completed.stdout) if part.strip())
        if completed.returncode != 0:
            names = ", ".join(str(relative) for relative in sources)
            raise ProtocError(
                f"protoc failed (exit {completed.returncode}) on {names}:\n{output or '(no output)'}"
            )
        generated: dict[PurePosixPath, bytes] = {}
        for relative in sources:
            for path in generated_paths(relative):
                produced = root.joinpath(*path.parts)
                if produced.is_file():
                    generated[path] = produced.read_bytes()
        if extra_args:
            for produced in sorted(root.rglob("*")):
                relative = PurePosixPath(produced.relative_to(root).as_posix())
                if produced.is_file() and relative not in sources and relative not in generated:
                    generated[relative] = produced.read_bytes()
        return generated

"""`python manage.py generateproto`: writes each app's .proto and compiles it to Python.

The ROOT_HANDLERS_HOOK is called with `server=None`, which makes every
`AppHandlerRegistry` record its services instead of wiring them into a server.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_socio_grpc.exceptions import ProtobufGenerationException
from django_socio_grpc.protobuf.files import ProtoTarget, plan_targets, write_targets
from django_socio_grpc.protobuf.generation import default_project_name, hook_path, run_handlers_hook
from django_socio_grpc.services.app_handler_registry import AppRegistration
from django_socio_grpc.settings import grpc_settings

EXTRA_ARGS = ("-a", "--extra-args")


class Command(BaseCommand):
    help = "Generate <app>/grpc/<app>.proto for every app registered by ROOT_HANDLERS_HOOK and compile it."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        # django-socio-grpc's options, with its short flags.
        parser.add_argument("--project", "-p", help="proto package prefix (default: first part of DJANGO_SETTINGS_MODULE)")
        parser.add_argument("--dry-run", "-dr", action="store_true", help="print the proto text, write nothing")
        parser.add_argument(
            "--no-generate-pb2", "-nopb2", action="store_true", help="write the .proto files only, do not run protoc"
        )
        parser.add_argument(
            "--check",
            "-c",
            action="store_true",
            help="write nothing; exit 1 with a diff when a proto on disk is missing or out of date",
        )
        parser.add_argument(
            "--custom-verbose",
            "-cv",
            type=int,
            default=0,
            help="1 to 4: what the generation does, on stderr (1 apps and files, 2 services and rpcs, "
            "3 messages and their field numbers, 4 where each number comes from)",
        )
        parser.add_argument(
            "--directory", "-d", help="write everything into this directory instead of each app's grpc folder"
        )
        parser.add_argument(
            "--override-fields-number",
            "-ofn",
            action="store_true",
            help="number fields afresh instead of following the existing .proto (can break existing clients)",
        )
        parser.add_argument(
            "--extra-args",
            "-a",
            action="extend",
            nargs="+",
            default=[],
            help="more protoc arguments, e.g. -a --mypy_out=./ --mypy_grpc_out=./ (relative output paths "
            "are relative to the directory the proto paths are relative to, normally BASE_DIR)",
        )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """The parser, taking `-a --mypy_out=./ --mypy_grpc_out=./` as django-socio-grpc documents it
        (argparse alone refuses values that start with '-')."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parse_args = parser.parse_args

        def parse_with_protoc_values(args: Any = None, namespace: Any = None) -> Any:
            if args is not None:
                args = protoc_values(list(args), set(parser._option_string_actions))
            return parse_args(args, namespace)

        parser.parse_args = parse_with_protoc_values  # type: ignore[method-assign]
        return parser

    def handle(self, *args: Any, **options: Any) -> None:
        self.custom_verbose = max(0, min(4, options["custom_verbose"] or 0))
        registrations = self._registrations()
        try:
            project = options["project"] or default_project_name()
            targets = plan_targets(
                project, registrations, options["directory"], override_fields_number=options["override_fields_number"]
            )
        except ProtobufGenerationException as exc:
            raise CommandError(str(exc)) from exc
        self._describe(targets)
        if options["dry_run"]:
            for target in targets:
                self.stdout.write(f"// {target.path}\n{target.text}", ending="")
            return
        if options["check"]:
            self._check(targets)
            return
        try:
            written = write_targets(
                targets, generate_pb2=not options["no_generate_pb2"], extra_args=tuple(options["extra_args"] or ())
            )
        except ProtobufGenerationException as exc:
            raise CommandError(str(exc)) from exc
        for path in written:
            self.stdout.write(str(path))

    def _say(self, level: int, text: str) -> None:
        if self.custom_verbose >= level:
            self.stderr.write(text, style_func=lambda line: line)

    def _describe(self, targets: list[ProtoTarget]) -> None:
        """--custom-verbose: what is generated, as much as asked for."""
        for target in targets:
            proto = target.proto
            self._say(1, f"app {target.registration.app_name}: {target.path}")
            if proto is None:
                continue
            for service in proto.services:
                self._say(2, f"  service {service.name}: {len(service.rpcs)} rpc(s)")
                for rpc in service.rpcs:
                    self._say(2, f"  {rpc.render().strip()}")
            for message in proto.messages:
                numbers = ", ".join(f"{f.name} = {f.number}" for f in message.fields)
                reserved = f"; reserved {message.reserved_numbers}" if message.reserved_numbers else ""
                self._say(3, f"  message {message.name}: {numbers or '(no fields)'}{reserved}")
                before = target.previous.get(message.name)
                for proto_field in message.fields:
                    old = before.numbers.get(proto_field.name) if before else None
                    origin = "kept from the existing .proto" if old == proto_field.number else "new"
                    self._say(4, f"    {message.name}.{proto_field.name} = {proto_field.number}: {origin}")

    def _registrations(self) -> list[AppRegistration]:
        try:
            hook = grpc_settings.ROOT_HANDLERS_HOOK
        except ImproperlyConfigured as exc:
            raise CommandError(f"cannot load ROOT_HANDLERS_HOOK: {exc}") from exc
        name = hook_path(hook)
        if not callable(hook):
            raise CommandError(f"ROOT_HANDLERS_HOOK {name} is not callable")
        try:
            registrations = run_handlers_hook(hook)
        except Exception as exc:
            raise CommandError(
                f"ROOT_HANDLERS_HOOK {name} failed with {type(exc).__name__}: {exc}"
            ) from exc
        if not registrations:
            raise CommandError(
                f"ROOT_HANDLERS_HOOK {name} registered no service: nothing to generate. It should "
                "call AppHandlerRegistry(app_name, server).register(Service) for each service.",
                returncode=1,
            )
        return registrations

    def _check(self, targets: list[ProtoTarget]) -> None:
        stale: list[Path] = []
        for target in targets:
            current = target.path.read_text(encoding="utf-8") if target.path.is_file() else ""
            if current == target.text:
                continue
            stale.append(target.path)
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                target.text.splitlines(keepends=True),
                fromfile=f"{target.path} (on disk)" if current else f"{target.path} (missing)",
                tofile=f"{target.path} (generated)",
            )
            self.stdout.write("".join(diff), ending="")
        if stale:
            raise CommandError(
                f"{len(stale)} proto file(s) out of date: {', '.join(map(str, stale))}; "
                "run `python manage.py generateproto`",
                returncode=1,
            )
        self.stdout.write(f"{len(targets)} proto file(s) up to date.")


def protoc_values(args: list[str], options: set[str]) -> list[str]:
    """`-a X Y` -> `--extra-args=X --extra-args=Y`: after -a/--extra-args, every argument up to
    the command's next own option is a protoc argument (a bare `-a` is left for argparse to refuse)."""
    result: list[str] = []
    flag: str | None = None  # the -a/--extra-args being collected for
    taken = False
    for arg in [*args, None]:
        if flag is not None and arg is not None and arg not in EXTRA_ARGS and arg.split("=", 1)[0] not in options:
            result.append(f"--extra-args={arg}")
            taken = True
            continue
        if flag is not None and not taken:
            result.append(flag)
        flag, taken = (arg, False) if arg in EXTRA_ARGS else (None, False)
        if flag is None and arg is not None:
            result.append(arg)
    return result

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
from django_socio_grpc.protobuf.generation import (
    ProtoTarget,
    default_project_name,
    hook_path,
    plan_targets,
    run_handlers_hook,
    write_targets,
)
from django_socio_grpc.services.app_handler_registry import AppRegistration
from django_socio_grpc.settings import grpc_settings


class Command(BaseCommand):
    help = "Generate <app>/grpc/<app>.proto for every app registered by ROOT_HANDLERS_HOOK and compile it."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="proto package prefix (default: first part of DJANGO_SETTINGS_MODULE)")
        parser.add_argument("--dry-run", action="store_true", help="print the proto text, write nothing")
        parser.add_argument(
            "--check",
            action="store_true",
            help="write nothing; exit 1 with a diff when a proto on disk is missing or out of date",
        )
        parser.add_argument(
            "--no-generate-pb2", action="store_true", help="write the .proto files only, do not run protoc"
        )
        parser.add_argument("--directory", help="write everything into this directory instead of each app's grpc folder")

    def handle(self, *args: Any, **options: Any) -> None:
        registrations = self._registrations()
        try:
            project = options["project"] or default_project_name()
            targets = plan_targets(project, registrations, options["directory"])
        except ProtobufGenerationException as exc:
            raise CommandError(str(exc)) from exc
        if options["dry_run"]:
            for target in targets:
                self.stdout.write(f"// {target.path}\n{target.text}", ending="")
            return
        if options["check"]:
            self._check(targets)
            return
        try:
            written = write_targets(targets, generate_pb2=not options["no_generate_pb2"])
        except ProtobufGenerationException as exc:
            raise CommandError(str(exc)) from exc
        for path in written:
            self.stdout.write(str(path))

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

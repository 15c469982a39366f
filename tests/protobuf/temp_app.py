"""A throw-away Django app for the command tests: its handlers module and generated code."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from django.test import override_settings

HANDLERS = '''\
from django_socio_grpc.services.app_handler_registry import AppHandlerRegistry

SERVICES = []


def grpc_handlers(server):
    registry = AppHandlerRegistry(__package__, server)
    for service in SERVICES:
        registry.register(service)


async def async_grpc_handlers(server):
    grpc_handlers(server)


def broken_hook(server):
    raise RuntimeError("boom in hook")
'''


@dataclass
class TempApp:
    name: str
    root: Path
    handlers: ModuleType

    @property
    def grpc_dir(self) -> Path:
        return self.root / self.name / "grpc"

    def use_hook(self, hook: str) -> Any:
        return override_settings(GRPC_FRAMEWORK={"ROOT_HANDLERS_HOOK": f"{self.name}.handlers.{hook}"})

    def import_generated(self, suffix: str) -> ModuleType:
        return importlib.import_module(f"{self.name}.grpc.{self.name}_{suffix}")

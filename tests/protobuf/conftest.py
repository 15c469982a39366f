"""The throw-away Django app of the command tests.

Each command test builds an app package under tmp_path (a unique module name per test, so
imports and protobuf's descriptor pool never see the same file twice) and points
INSTALLED_APPS / ROOT_HANDLERS_HOOK at it with override_settings.
"""
from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from tests.protobuf.temp_app import HANDLERS, TempApp


@pytest.fixture
def temp_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TempApp]:
    name = f"protogen_{uuid.uuid4().hex[:10]}"
    root = tmp_path / "src"
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handlers.py").write_text(HANDLERS)
    monkeypatch.syspath_prepend(str(root))
    hook = {"ROOT_HANDLERS_HOOK": f"{name}.handlers.grpc_handlers"}
    with override_settings(INSTALLED_APPS=["django_socio_grpc", name], GRPC_FRAMEWORK=hook):
        handlers = importlib.import_module(f"{name}.handlers")
        yield TempApp(name, root, handlers)
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]

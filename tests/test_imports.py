"""The import rules hold for the real tree, and the checker sees every form of import."""
from pathlib import Path

from tests import imports_check


def test_engine_never_imports_the_app():
    assert imports_check.engine_violations() == []


def test_no_import_cycles():
    assert imports_check.cycles() == []


def _modules(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    modules = {}
    for name, text in files.items():
        path = tmp_path / f"{name.replace('.', '_')}.py"
        path.write_text(text)
        modules[name] = path
    return modules


def test_checker_sees_hidden_engine_imports(tmp_path):
    modules = _modules(tmp_path, {
        "hybrid_server.a": "def f():\n    from django_socio_grpc.rpc import call\n",
        "hybrid_server.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import django_socio_grpc.services\n",
        "hybrid_server.c": (
            "from django.utils.module_loading import import_string\nimport_string('django_socio_grpc.middlewares.x')\n"
        ),
        "hybrid_server.d": "import importlib\nimportlib.import_module('django_socio_grpc')\n",
        "hybrid_server.e": "import grpc\n",
    })
    monkey_root = imports_check.ROOT
    imports_check.ROOT = tmp_path
    try:
        problems = imports_check.engine_violations(modules)
    finally:
        imports_check.ROOT = monkey_root
    assert [problem.split(":")[0] for problem in problems] == [
        "hybrid_server_a.py", "hybrid_server_b.py", "hybrid_server_c.py", "hybrid_server_d.py",
    ]


def test_checker_finds_function_level_cycles(tmp_path):
    modules = _modules(tmp_path, {
        "pkg.one": "from pkg.two import thing\n",
        "pkg.two": "def thing():\n    from pkg import three\n",
        "pkg.three": "import pkg.one\n",
        "pkg.four": "import pkg.one\n",
    })
    assert imports_check.cycles(modules) == [["pkg.one", "pkg.three", "pkg.two"]]

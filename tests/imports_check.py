"""Static import checks, run by `make test` before pytest (and as tests in tests/test_imports.py).

1. The engine never imports the Django app: no module under `hybrid_server/` imports
   `django_socio_grpc` in any form — top level, inside a function, under `TYPE_CHECKING`, or
   as a literal string handed to `import_module`/`import_string`/`__import__`.
2. No import cycle among the modules of both packages (function-level and `TYPE_CHECKING`
   imports count as edges; a package's implicit import by its submodules does not).

The source is read with `ast`, never imported.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hybrid_server", "django_socio_grpc")
ENGINE, APP = PACKAGES
DYNAMIC_IMPORTERS = {"import_module", "import_string", "__import__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            modules[module_name(path)] = path
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, wherever it stands."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            found.append((base, node.lineno))
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in DYNAMIC_IMPORTERS and node.args and isinstance(node.args[0], ast.Constant):
                value = node.args[0].value
                if isinstance(value, str):
                    found.append((value, node.lineno))
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name lands in (`pkg.mod.attr` -> `pkg.mod`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def engine_violations(modules: dict[str, Path] | None = None) -> list[str]:
    modules = modules or project_modules()
    problems = []
    for module, path in modules.items():
        if module != ENGINE and not module.startswith(ENGINE + "."):
            continue
        seen_lines = set()
        for name, line in imports_of(module, path):
            if (name == APP or name.startswith(APP + ".")) and line not in seen_lines:
                seen_lines.add(line)
                problems.append(f"{path.relative_to(ROOT)}:{line}: the engine imports {name!r}")
    return problems


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        for name, _line in imports_of(module, path):
            target = _resolve(name, modules)
            # `from pkg import mod` also names `pkg`; a module importing its own package's
            # __init__ that way is not a dependency of the package on the module.
            if target is not None and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    return graph


def cycles(modules: dict[str, Path] | None = None) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = import_graph(modules or project_modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    modules = project_modules()
    problems = engine_violations(modules)
    problems += [f"import cycle: {' <-> '.join(component)}" for component in cycles(modules)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"imports: {len(modules)} modules, the engine never imports the app, no cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

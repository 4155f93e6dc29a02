"""The layers point one way (docs/architecture.md): core <- ingest and data checks <- the Dagster
definitions <- the CLI; the dashboard and the tools use core only. Read from the source (every
import, at module level or inside a function), so a violation fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "data_checks", "dashboards", "tools")

# layer of a module -> the project layers it may import (besides its own)
LAYERS = {
    "core": set(),
    "ingest": {"core"},
    "data_checks": {"core"},
    "dashboards": {"core"},
    "tools": {"core"},
    "dagster": {"core", "ingest", "data_checks"},
    "cli": {"core", "ingest", "data_checks", "dagster", "dashboards", "tools"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("data_checks", "dashboards", "tools"):
        return parts[0]
    if parts[:2] in (["pipelines", "core"], ["pipelines"]):
        return "core" if len(parts) > 1 and parts[1] == "core" else "dagster"
    if parts[:2] == ["pipelines", "ingest"]:
        return "ingest"
    if parts[:2] == ["pipelines", "cli"]:
        return "cli"
    return "dagster"


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] in PACKAGES}


def project_imports() -> dict[str, set[str]]:
    known = modules()
    return {name: {i for i in imports(path) if i in known} for name, path in known.items()}


def test_every_import_points_down_the_layers():
    wrong = []
    for module, imported in project_imports().items():
        allowed = LAYERS[layer(module)] | {layer(module)}
        wrong += [f"{module} -> {i}" for i in sorted(imported) if layer(i) not in allowed]
    assert wrong == []


def test_no_import_cycles():
    graph = project_imports()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    # A package's __init__ importing its own submodules is no cycle of layers.
    cycles = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert cycles == []


def test_no_module_changes_the_environment_when_imported():
    """`os.environ[...] = `, `.update(`, `.setdefault(` only inside functions."""
    offenders = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            text = ast.unparse(node)
            changes = "os.environ" in text and any(w in text for w in ("os.environ[", ".update(", ".setdefault(", ".pop("))
            if changes and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                offenders.append(name)
    assert offenders == []

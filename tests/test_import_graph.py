"""The catalogue, the providers and the simulator import each other in no circle, and nothing in
them imports a layer above it (types -> catalog -> providers -> routing -> engine -> server -> cli).
Every import counts, a deferred one inside a function too: it is a dependency all the same."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vidgate"
SLICE = ("vidgate.catalog", "vidgate.providers", "vidgate.simulator")
ABOVE_PROVIDERS = ("vidgate.routing", "vidgate.engine", "vidgate.server", "vidgate.cli")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["vidgate", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    # A package's face (``__init__``) only hands names on: what counts is the module itself.
    return {t for t in targets if t in modules and t != name and modules[t].name != "__init__.py"}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_circle_runs_through_the_catalogue_the_providers_or_the_simulator() -> None:
    circles = [c for c in _circles(_graph()) if any(m.startswith(SLICE) for m in c)]
    assert circles == []


def test_the_catalogue_and_the_providers_import_nothing_above_them() -> None:
    graph = _graph()
    upward = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith(("vidgate.catalog", "vidgate.providers"))
        for target in targets
        if target.startswith(ABOVE_PROVIDERS)
        or (name.startswith("vidgate.catalog") and target.startswith("vidgate.providers"))
    }
    assert upward == set()


#: The layers, bottom up; a module may import its own layer and those below it.
#: Bottom to top; the rooms of one floor may not import each other's floor mates' floors above.
LAYERS = (
    # The names a request and a setting use (a priority, a strategy, a structured prompt's
    # parts): they import nothing of vidgate's.
    ("vidgate.priority", "vidgate.prompt_model"),
    ("vidgate.types",),
    # The delivery floor (renditions, HLS, stills): media work only, below everything that
    # routes, charges or runs jobs.
    ("vidgate.delivery",),
    ("vidgate.catalog",),
    ("vidgate.prompts",),
    ("vidgate.providers",),
    ("vidgate.routing",),
    ("vidgate.ranking",),
    ("vidgate.accounting", "vidgate.safety", "vidgate.caching", "vidgate.provenance"),
    # Windowed figures read the tables and accounting's periods; the engine, server and CLI
    # call into them.
    ("vidgate.insights",),
    ("vidgate.engine",),
    ("vidgate.server",),
    ("vidgate.cli",),
)


def _layer(module: str) -> int | None:
    for rank, floor in enumerate(LAYERS):
        for layer in floor:
            if module == layer or module.startswith(layer + "."):
                return rank
    return None


def test_no_import_circle_anywhere_in_the_package() -> None:
    assert _circles(_graph()) == []


def test_no_import_runs_up_a_layer() -> None:
    upward = set()
    for name, targets in _graph().items():
        here = _layer(name)
        for target in targets:
            there = _layer(target)
            if here is not None and there is not None and there > here:
                upward.add(f"{name} -> {target}")
    assert upward == set()


def test_the_engine_is_the_servers_only_door() -> None:
    """Routes and commands use the engine's public methods: none reaches into its runtime
    (store, storage, catalogue), and only the gateway's own books (tenancy, the dashboard's
    sign-ins) touch SQL."""
    graph = _graph()
    for name, path in _modules().items():
        if not name.startswith(("vidgate.server", "vidgate.cli")):
            continue
        source = path.read_text(encoding="utf-8")
        assert ".runtime" not in source, f"{name} reaches into the engine's runtime"
        if name in ("vidgate.server.tenancy", "vidgate.server.dashboard.sessions"):
            continue
        if name.startswith("vidgate.server"):
            assert "sqlalchemy" not in source, f"{name} runs SQL of its own"
            assert not {t for t in graph[name] if t.startswith("vidgate.db")}, name

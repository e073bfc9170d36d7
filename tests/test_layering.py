"""The package's layers import only downwards, and no import cycle exists (read from the code with ast).

Top to bottom (docs/architecture in the README): cli -> api -> load -> trace (with its contexts) ->
analyses -> ops, formulas -> report -> results -> options -> events -> devices, tensors, units, dtypes,
errors. A module may import its own layer and any layer below it. The one allowed upward import is the
lazy call from ``results.profile`` (``Profile.__str__``, ``_repr_html_``, ``render``...) into ``report``,
inside a function; it is listed here and is not allowed anywhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "netcensus"

RANKS = {
    "__main__": 110, "__init__": 100, "cli": 90, "api": 80, "sweep": 85, "serving": 85, "examples": 75, "load": 70, "trace": 60,
    "analyses": 50, "ops": 45, "formulas": 44, "report": 30, "results": 20, "options": 15, "events": 12,
    "devices": 5, "tensors": 4, "gcscope": 3, "units": 3, "dtypes": 2, "version": 1, "errors": 0,
}
"""Layer of each top-level module or package of netcensus; higher imports lower."""

ALLOWED_UPWARD = {("results.profile", "report")}
"""(importing module, imported layer) pairs allowed to point up, from inside a function only."""


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        elif parts == ["__init__"]:
            out["__init__"] = path
            continue
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Dotted names (relative to netcensus; ``__init__`` for the package itself) that ``node`` in ``module``
    imports: ``from .x import y`` names ``x.y`` when that is a module, else ``x``."""
    if node.level == 0:
        if not (node.module or "").startswith("netcensus"):
            return []
        base = (node.module or "").removeprefix("netcensus").lstrip(".")
    else:
        here = module.split(".") if module != "__init__" else []
        if not is_package:
            here = here[:-1]
        up = node.level - 1
        here = here[:len(here) - up] if up else here
        base = ".".join([*here, *([node.module] if node.module else [])])
    out = []
    for alias in node.names:
        full = f"{base}.{alias.name}".lstrip(".")
        out.append(full if full in MODULE_NAMES else (base or "__init__"))
    return out


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """(imported netcensus module, whether the import sits inside a function) of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                found.extend((name, in_function) for name in _resolve(module, is_package, child))
            elif isinstance(child, ast.Import):
                found.extend((a.name.removeprefix("netcensus").lstrip("."), in_function)
                             for a in child.names if a.name.startswith("netcensus."))
            visit(child, inner)

    visit(tree, False)
    return found


def _layer(name: str) -> str:
    return name.split(".")[0] if name else "__init__"


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package (``a.b.func`` -> ``a.b``)."""
    if name == "__init__":
        return name
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


MODULES = _modules()
MODULE_NAMES = set(MODULES) | {"__init__"}
EDGES = {m: [(t, f) for n, f in _imports(m, p) if (t := _known(n, MODULES)) is not None and t != m]
         for m, p in MODULES.items()}


def test_every_top_level_module_has_a_layer():
    assert {_layer(m) for m in MODULES} <= set(RANKS), set(map(_layer, MODULES)) - set(RANKS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    rank = RANKS[_layer(module)]
    upward = []
    for target, in_function in EDGES[module]:
        layer = _layer(target)
        if layer == _layer(module) or RANKS[layer] < rank:
            continue
        if in_function and (module, layer) in ALLOWED_UPWARD:
            continue
        upward.append(f"{module} -> {target} ({_layer(module)} {rank} imports {layer} {RANKS[layer]})")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_no_import_cycle():
    graph = {m: {t for t, f in edges if not (f and (m, _layer(t)) in ALLOWED_UPWARD)}
             for m, edges in EDGES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    # a package's __init__ importing its own submodules, which import siblings through the package, is the
    # usual re-export pattern and no cycle of the code's meaning: only cycles between distinct files count
    real = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert not real, "import cycles:\n" + "\n".join(" -> ".join(c) for c in real)


def test_the_layering_test_sees_imports():
    """The checks above are only worth something if imports are found: spot-check known edges."""
    assert ("results.profile", True) in [(t, f) for t, f in EDGES["api"]] or \
        any(t == "results.profile" for t, _ in EDGES["api"])
    assert any(t.startswith("report") and f for t, f in EDGES["results.profile"])
    assert any(t == "errors" for t, _ in EDGES["options.choices"])

"""The package's import structure: no import loop and no upward import, counting imports inside functions.

Every ``import`` / ``from … import`` statement in ``src/regiongan`` (at any depth of the file) is an edge
between modules; the layers below name, from the bottom up, which packages may import which.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "regiongan"

#: From the bottom up; a module may import modules of its own layer or lower layers only.
LAYERS: list[tuple[str, ...]] = [
    ("regiongan",),  # the lazy facade: __version__ and string-named lazy imports only
    ("regiongan.limits", "regiongan.validate", "regiongan.hardware"),
    ("regiongan.ops", "regiongan.images", "regiongan.equalized", "regiongan.data"),
    ("regiongan.regions", "regiongan.latents", "regiongan.identity", "regiongan.registry"),
    ("regiongan.generators", "regiongan.discriminators", "regiongan.layer_selection", "regiongan.jacobian", "regiongan.metrics"),
    ("regiongan.checkpoints",),
    ("regiongan.parser", "regiongan.recipes"),
    ("regiongan.results", "regiongan.training"),
    ("regiongan.methods", "regiongan.previews"),
    ("regiongan.api", "regiongan.demo", "regiongan.studio"),
    ("regiongan.cli",),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _edges() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = _resolve(name, is_package, node.level, node.module) if node.level else (node.module or "")
                # "from pkg import sub" imports the submodule when one exists, else a name of pkg
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
            for t in targets:
                while t and t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in modules and t != name and t.startswith("regiongan"):
                    graph[name].add(t)
    return graph


def _layer(module: str) -> int:
    if module.endswith(".__main__"):
        return len(LAYERS) - 1  # `python -m` entry points: nothing imports them, they may import the CLI
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            nested = module.startswith(p + ".") and p != "regiongan"  # the facade's layer holds only itself
            if (module == p or nested) and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, f"{module} is in no layer: add its package to LAYERS"
    return rank


def test_every_module_has_a_layer():
    for m in _modules():
        _layer(m)


def test_no_upward_import():
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, targets in _edges().items()
        for b in targets
        if _layer(b) > _layer(a)
    ]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_loop():
    graph = _edges()
    state: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                loops.append(stack[stack.index(n) :] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not loops, "import loops:\n" + "\n".join(" -> ".join(loop) for loop in loops)


def test_the_registries_import_no_family_and_no_method():
    graph = _edges()
    assert not {t for t in graph["regiongan.registry"] if t.startswith("regiongan.methods")}
    assert graph["regiongan.generators.registry"] <= {"regiongan.generators.base", "regiongan.limits", "regiongan.validate"}
    assert graph["regiongan.recipes"] <= {"regiongan", "regiongan.registry", "regiongan.identity", "regiongan.regions",
                                          "regiongan.checkpoints", "regiongan.checkpoints.files"}

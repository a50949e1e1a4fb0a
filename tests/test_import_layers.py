"""The package's layers import downwards only: no import cycle between its top-level parts, nor
between the modules inside one.

Every ``ldm_sprites.*`` import counts, at module level and inside functions alike (a lazy import
is still a dependency; it only moves the cycle from import time to run time). The layer order is
documented in README.md ("Design notes", Layout).
"""

from __future__ import annotations

import ast
from pathlib import Path

import ldm_sprites

PACKAGE = Path(ldm_sprites.__file__).resolve().parent
# The runtime layer at the bottom: imports only from itself (and outside packages). The generic
# config loader and the train: section both stages share sit there too.
BOTTOM = {"errors", "console", "fsutil", "runtime", "image_files", "modeldir", "config_loader",
          "train_section"}


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(node: ast.AST, module: list[str], is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            base = module if is_package else module[:-1]
            base = base[: len(base) - node.level + 1]
            name = ".".join(base + ([node.module] if node.module else []))
        else:
            name = node.module or ""
        # ``from ldm_sprites import api`` imports the module ``ldm_sprites.api``.
        return [name] + [f"{name}.{alias.name}" for alias in node.names]
    return []


def _part(name: str) -> str | None:
    """``ldm_sprites.diffusion.pipeline`` -> ``diffusion``; None outside the package."""
    parts = name.split(".")
    if parts[0] != "ldm_sprites" or len(parts) < 2:
        return None
    if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file():
        return parts[1]
    return None


def import_graph() -> dict[str, dict[str, list[str]]]:
    """top-level part -> {imported part: ["module:line", ...]}, every import in the package."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if len(module) < 2:
            continue  # ldm_sprites/__init__.py
        source = module[1]
        graph.setdefault(source, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for name in _imported(node, module, path.name == "__init__.py"):
                target = _part(name)
                if target and target != source:
                    where = f"{'.'.join(module)}:{node.lineno}"
                    sites = graph[source].setdefault(target, [])
                    if where not in sites:
                        sites.append(where)
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, colours white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _describe(graph, cycle: list[str]) -> str:
    return "\n".join(f"  {a} -> {b}  ({', '.join(graph[a][b][:3])})"
                     for a, b in zip(cycle, cycle[1:]))


def test_no_import_cycle_between_top_level_parts():
    graph = import_graph()
    assert {"data", "autoencoder", "diffusion", "training", "cli"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle " + " -> ".join(cycle) + ":\n" + _describe(graph, cycle)


def module_graph() -> dict[str, dict[str, list[str]]]:
    """module -> {imported module: ["module:line", ...]}, every import in the package.
    ``from ldm_sprites.finish import palette_files`` imports the submodule, not the package; the
    packages above a module (run by any import of it) are no choice of the importer's."""
    modules = {".".join(_module_name(p)): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, list[str]]] = {}
    for name, path in sorted(modules.items()):
        module = name.split(".")
        deps = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            found = _imported(node, module, path.name == "__init__.py")
            subs = [n for n in found[1:] if n in modules]
            for target in subs or found[:1]:
                if target in modules and target != name and not name.startswith(target + "."):
                    deps.setdefault(target, []).append(f"{name}:{node.lineno}")
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = module_graph()
    assert graph["ldm_sprites.diffusion.pipeline"]     # the graph sees imports at all
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle " + " -> ".join(cycle) + ":\n" + _describe(graph, cycle)


def test_the_runtime_layer_imports_nothing_above_it():
    graph = import_graph()
    upward = {f"{a} -> {b}": sites for a in BOTTOM for b, sites in graph.get(a, {}).items()
              if b not in BOTTOM}
    assert not upward, f"the bottom layer imports upwards: {upward}"


def test_the_cycle_finder_finds_and_prints_a_cycle():
    graph = {"a": {"b": ["a.x:1"]}, "b": {"c": ["b.y:2"]}, "c": {"a": ["c.z:3"]}, "d": {}}
    cycle = find_cycle(graph)
    assert cycle == ["a", "b", "c", "a"]
    assert "c -> a  (c.z:3)" in _describe(graph, cycle)
    assert find_cycle({"a": {"b": []}, "b": {}}) is None


def test_lazy_imports_inside_functions_count(tmp_path):
    tree = ast.parse("def f():\n    from ldm_sprites.diffusion.pipeline import DiffusionPipeline\n")
    names = [n for node in ast.walk(tree) for n in _imported(node, ["ldm_sprites", "x"], False)]
    assert _part(names[0]) == "diffusion"

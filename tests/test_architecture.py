"""The shape of the code, read from its imports with `ast`, so it stays the way it was built.

- No import circle among product modules (`orchestrator/`, `stages/`). Imports at any depth
  count (a lazy import inside a function still ties two modules together); imports under
  `if TYPE_CHECKING:` do not, since they never run.
- No product module over 400 lines: split it rather than grow it.
- Nothing under `orchestrator/` imports torch, diffusers, transformers, open_clip or `stages`
  (anywhere in the file, type-only imports included): the models live beside the stages.
- The engine (`orchestrator/engine/`) imports no other part of renga and nothing of video,
  audio, images or Hydra: it is a DAG and a content-addressed store, nothing more.
- Stages import of renga only the contract (`orchestrator.stage`), the timeline types, what a
  running node gets (`engine.context`), the errors and `media`: never the planner, the graph
  builder or the CLI.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("orchestrator", "stages")
MAX_LINES = 400
MODEL_LIBRARIES = frozenset({"torch", "diffusers", "transformers", "open_clip", "stages"})
ENGINE = "orchestrator.engine"
# What the engine may not reach: renga's other rooms, and the libraries of media and config.
ENGINE_FORBIDDEN = frozenset({"hydra", "omegaconf", "av", "PIL", "numpy", "cv2", "librosa"})
# All of renga a stage may import (each with its submodules).
STAGE_ALLOWED = (
    "orchestrator.stage",
    "orchestrator.plan.timeline",
    "orchestrator.engine.context",
    "orchestrator.engine.errors",
    "orchestrator.media",
)


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    lines: int
    # Modules (or packages) this one imports, resolved against the product's modules.
    deps: set[str] = field(default_factory=set)
    # Every imported name, type-only imports included, as written (absolute).
    every_import: set[str] = field(default_factory=set)


def _name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """`from .x import y` as the absolute module it names."""
    if not node.level:
        return node.module or ""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _targets(module: Module, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules an import statement loads: `from pkg import mod` loads `pkg.mod` when that
    is a module, else `pkg` (a name defined in it)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = _absolute(module, node)
    found = set()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        found.add(candidate if candidate in known else base)
    return found


def _resolve(target: str, known: set[str]) -> str | None:
    """The product module a dotted import lands in (`a.b.c` -> `a.b` when `c` is a name)."""
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def _scan(module: Module, known: set[str]) -> None:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))

    def visit(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runtime)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            targets = _targets(module, node, known)
            module.every_import |= targets
            if runtime:
                for target in targets:
                    resolved = _resolve(target, known)
                    # A module's own packages run before it anyway; they are not an edge.
                    own = resolved == module.name or module.name.startswith(f"{resolved}.")
                    if resolved and not own:
                        module.deps.add(resolved)
        for child in ast.iter_child_nodes(node):
            visit(child, runtime)

    visit(tree, True)


def product_modules() -> dict[str, Module]:
    modules = {}
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            name, is_package = _name(path)
            lines = len(path.read_text(encoding="utf-8").splitlines())
            modules[name] = Module(name, path, is_package, lines)
    known = set(modules)
    for module in modules.values():
        _scan(module, known)
    return modules


def circles(modules: dict[str, Module]) -> list[tuple[list[str], list[str]]]:
    """Strongly connected groups of two or more modules (Tarjan): each group's members, and
    one shortest loop through its first member, so a failure reads as a path a -> b -> a."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def strong(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for dep in sorted(modules[name].deps):
            if dep not in index:
                strong(dep)
                low[name] = min(low[name], low[dep])
            elif dep in on_stack:
                low[name] = min(low[name], index[dep])
        if low[name] == index[name]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(group)

    for name in sorted(modules):
        if name not in index:
            strong(name)
    return [(sorted(group), _loop(group, modules)) for group in groups]


def _loop(group: set[str], modules: dict[str, Module]) -> list[str]:
    """One shortest import path inside `group` from its first module back to it."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for name in frontier:
            for dep in sorted(modules[name].deps & group):
                if dep == start:
                    return [*paths[name], start]
                if dep not in paths:
                    paths[dep] = [*paths[name], dep]
                    nxt.append(dep)
        frontier = nxt
    return sorted(group)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return product_modules()


def test_the_checker_reads_imports_as_python_runs_them(tmp_path):
    """`from pkg import mod` is an edge to `pkg.mod`; `from pkg import name` to `pkg`; a
    relative import resolves from the package; TYPE_CHECKING blocks are no edge."""
    known = {"p", "p.a", "p.b", "p.c", "p.d"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "from p import b\n"
        "from . import c\n"
        "from .d import thing\n"
        "from p import CONSTANT\n"
        "if TYPE_CHECKING:\n"
        "    import torch\n"
        "    from p import e\n"
        "def lazy():\n"
        "    import json\n"
    )
    path = tmp_path / "a.py"
    path.write_text(source)
    module = Module("p.a", path, False, 0)
    _scan(module, known)
    assert module.deps == {"p.b", "p.c", "p.d"}
    assert {"torch", "json", "p"} <= module.every_import
    looped = {
        "x": Module("x", path, False, 0, deps={"y"}),
        "y": Module("y", path, False, 0, deps={"z"}),
        "z": Module("z", path, False, 0, deps={"x"}),
        "w": Module("w", path, False, 0, deps={"x"}),
    }
    assert circles(looped) == [(["x", "y", "z"], ["x", "y", "z", "x"])]


def test_no_import_circle_among_product_modules(modules):
    found = [
        f"circle of {len(group)} ({', '.join(group)}), e.g. {' -> '.join(loop)}"
        for group, loop in circles(modules)
    ]
    assert not found, "import circles:\n" + "\n".join(found)


def test_no_product_module_over_400_lines(modules):
    long = sorted(f"{m.path.relative_to(ROOT)}: {m.lines} lines" for m in modules.values()
                  if m.lines > MAX_LINES)  # fmt: skip
    assert not long, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(long)


def test_orchestrator_imports_no_model_library_and_no_stage(modules):
    bad = sorted(
        f"{m.path.relative_to(ROOT)} imports {', '.join(sorted(hits))}"
        for m in modules.values()
        if m.name.split(".")[0] == "orchestrator"
        and (hits := {t for t in m.every_import if t.split(".")[0] in MODEL_LIBRARIES})
    )
    assert not bad, "orchestrator/ must not import models or stages:\n" + "\n".join(bad)


def test_the_engine_knows_nothing_of_video_config_or_the_rest_of_renga(modules):
    engine = [m for m in modules.values() if m.name == ENGINE or m.name.startswith(f"{ENGINE}.")]
    assert engine, f"no {ENGINE} package"
    bad = []
    for module in engine:
        for target in sorted(module.every_import):
            top = target.split(".")[0]
            inside = target in ("orchestrator", ENGINE) or target.startswith(f"{ENGINE}.")
            renga = top == "orchestrator" and not inside
            if renga or top in ENGINE_FORBIDDEN or top in MODEL_LIBRARIES:
                bad.append(f"{module.path.relative_to(ROOT)} imports {target}")
    assert not bad, "the engine reaches outside itself:\n" + "\n".join(bad)


def test_stages_import_only_the_contract_timeline_errors_and_media(modules):
    bad = sorted(
        f"{m.path.relative_to(ROOT)} imports {target}"
        for m in modules.values()
        if m.name.split(".")[0] == "stages"
        for target in m.every_import
        if target.split(".")[0] == "orchestrator"
        and not any(target == a or target.startswith(f"{a}.") for a in STAGE_ALLOWED)
    )
    assert not bad, "stages reach past the contract:\n" + "\n".join(bad)

"""Architecture rules, read statically: mathsynth's imports form no cycle and point down the layers.

::

    mathsynth/  cli.py, and the base: config io formats contracts models latex errors stats progress
      data/ backends/ grading/          (leaves: know no stage, nor one another)
      evaluate/ synth/ train/           (stages: never import one another)
      scale/ report/                    (scale conducts stages; report reads result files only)

Modules are parsed with :mod:`ast`, never imported, so the test has no import side effects and sees
every ``import`` statement wherever it stands. Imports inside functions (lazy imports) and under
``if TYPE_CHECKING:`` count like top-level ones, for cycles as for layering: a lazy import only
defers a dependency, it does not remove it (two modules that lazily import each other are still one
tangle, and a leaf that lazily imports a stage still knows that stage).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mathsynth"

BASE = "base"
LEAVES = ("data", "backends", "grading")
STAGES = ("evaluate", "synth", "train")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _edges() -> list[tuple[str, str, int]]:
    """(importer, imported module, line) for every import of a mathsynth module.

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg`` (its
    ``__init__``). The implicit import of a module's parent packages is not an edge: counting it
    would make every package ``__init__`` that re-exports its submodules a cycle.
    """
    edges = []
    for mod, path in MODULES.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                edges += [(mod, a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "mathsynth"]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: climb from the importer's package
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                if base.split(".")[0] != "mathsynth":
                    continue
                for a in node.names:
                    target = f"{base}.{a.name}"
                    edges.append((mod, target if target in MODULES else base, node.lineno))
    return edges


EDGES = _edges()


def layer(mod: str) -> str:
    """The layer of a module: ``cli``, ``base``, or its subpackage (``data``, ``evaluate``, ...).

    >>> layer("mathsynth.grading.extract"), layer("mathsynth.contracts"), layer("mathsynth.cli")
    ('grading', 'base', 'cli')
    """
    parts = mod.split(".")
    if len(parts) > 2 or (len(parts) == 2 and MODULES[mod].name == "__init__.py"):
        return parts[1]  # inside a subpackage, or the subpackage's __init__
    return "cli" if mod == "mathsynth.cli" else BASE


def allowed(src: str, dst: str) -> bool:
    """Whether layer ``src`` may import layer ``dst`` (the rules in the module docstring)."""
    if src == dst or src == "cli":
        return True
    if dst == "cli":
        return False  # nothing but cli itself imports cli
    if src == BASE:
        return dst == BASE
    if src in LEAVES:
        return dst == BASE
    if src in STAGES or src == "report":
        return dst == BASE or dst in LEAVES
    if src == "scale":
        return dst == BASE or dst in LEAVES or dst in STAGES or dst == "report"
    return False  # a new subpackage: give it a place in these rules


def test_the_graph_sees_the_package():
    assert "mathsynth.scale.study" in MODULES and "mathsynth.grading" in MODULES
    assert len(EDGES) > 100
    assert layer("mathsynth.scale.study") == "scale" and layer("mathsynth.grading") == "grading"


def test_every_subpackage_has_a_layer():
    unknown = sorted({layer(m) for m in MODULES} - {BASE, "cli", "scale", "report", *LEAVES, *STAGES})
    assert not unknown, f"subpackages without a layer rule in {__file__}: {unknown}"


def test_imports_respect_the_layers():
    bad = [f"{MODULES[a].relative_to(PACKAGE.parent)}:{line}: {a} ({layer(a)}) imports {b} ({layer(b)})"
           for a, b, line in EDGES if not allowed(layer(a), layer(b))]
    assert not bad, "imports that break the layering:\n" + "\n".join(bad)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a closed path ``[a, b, ..., a]``, or None (iterative DFS).

    >>> _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> _find_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    where = {}
    for a, b, line in EDGES:
        if a != b:
            graph[a].add(b)
            where.setdefault((a, b), line)
    cycle = _find_cycle(graph)
    if cycle:
        hops = [f"{a} -> {b} (line {where[(a, b)]})" for a, b in zip(cycle, cycle[1:], strict=False)]
        pytest.fail("import cycle:\n  " + "\n  ".join(hops))


def test_the_rules_catch_what_they_should():
    assert not allowed("grading", "evaluate") and not allowed("evaluate", "synth")
    assert not allowed("report", "scale") and not allowed("report", "train")
    assert not allowed("base", "data") and not allowed("data", "grading") and not allowed("scale", "cli")
    assert allowed("scale", "evaluate") and allowed("scale", "report") and allowed("cli", "scale")
    assert allowed("train", BASE) and allowed("synth", "backends") and allowed("report", "grading")

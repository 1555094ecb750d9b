"""The package's import graph: no cycles between modules (imports inside functions included), no private
name imported across modules, and every import points down the layers (README, "Layers"). Read from the source
with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dicmini"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    """The dicmini modules an import statement loads (a parent package that is only the container of the
    imported sub-modules does not count: Python has already imported it)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    subs = [f"{prefix}.{a.name}" for a in node.names if f"{prefix}.{a.name}" in MODULES]
    plain = len(subs) < len(node.names)
    return subs + ([prefix] if plain and prefix in MODULES else [])


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    graph: dict[str, set[str]] = {}
    private: list[str] = []
    for module, path in MODULES.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = imported_modules(module, node, path.name == "__init__.py")
                deps.update(targets)
                if isinstance(node, ast.ImportFrom) and targets:
                    private += [f"{module} imports {a.name} from {targets[-1]}" for a in node.names
                                if a.name.startswith("_") and not a.name.startswith("__")]
        graph[module] = deps - {module}
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    graph, _ = import_graph()
    assert "dicmini.models.dic" in graph["dicmini.models"]
    assert "dicmini.data.landmarks" in graph["dicmini.models.dic"]
    assert "dicmini.errors" in graph["dicmini.cli"]


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_no_private_names_imported_across_modules():
    _, private = import_graph()
    assert private == []


def test_only_the_cli_imports_the_course_tooling():
    """``dicmini.course`` (notebook tooling, exercise checks) is apart from the runtime library: no module outside
    ``dicmini/course/`` imports it, except ``dicmini.cli`` registering the ``course`` command group."""
    graph, _ = import_graph()
    course = "dicmini.course"
    outside = {m: deps for m, deps in graph.items() if m != course and not m.startswith(course + ".")}
    assert "dicmini.course.tooling" in graph["dicmini.cli"]  # the graph sees the one allowed import
    offenders = sorted(f"{m} imports {d}" for m, deps in outside.items() if m != "dicmini.cli"
                       for d in deps if d == course or d.startswith(course + "."))
    assert offenders == []


#: the package's layers, lowest first (README, "Layers"): a module may import from its own layer or lower ones,
#: never from a higher one. A module belongs to the layer of its longest listed prefix (relative to ``dicmini``).
#: ``viz`` and ``course`` sit beside the top: anything below ``cli``; ``cli`` registers ``course``'s commands.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("errors", "utils", "fetch")),
    ("data", ("data",)),
    ("models", ("models",)),
    ("losses and metrics", ("losses", "metrics", "face_detect", "identity")),
    ("analysis, inference and evaluation", ("analysis", "train.inference", "train.evaluate")),
    ("train", ("train",)),
    ("faces", ("faces",)),
    ("viz and course", ("viz", "course")),
    ("cli", ("cli",)),
)
TOP = len(LAYERS) - 1


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of a ``dicmini`` module. The package itself (``__version__``, the lazy
    ``dicmini.super_resolve``) and the ``python -m`` entry points (``__main__``) are the command line's layer."""
    rel = module.removeprefix("dicmini").removeprefix(".")
    if not rel or rel.split(".")[-1] == "__main__":
        return TOP
    found = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
             if rel == prefix or rel.startswith(prefix + ".")]
    if not found:
        raise KeyError(f"{module}: in no layer; add it to LAYERS (and README, 'Layers')")
    return max(found)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
                  for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m))


def test_every_module_has_a_layer():
    assert layer_of("dicmini.train.inference") < layer_of("dicmini.train.trainer") < layer_of("dicmini.faces.photo")
    assert layer_of("dicmini.data.synthetic.render") == layer_of("dicmini.data") < layer_of("dicmini.models.dic")
    assert layer_of("dicmini") == layer_of("dicmini.train.__main__") == layer_of("dicmini.cli") == TOP
    for module in MODULES:
        layer_of(module)


def test_upward_import_finder_finds_one():
    graph = {"dicmini.data.commands": {"dicmini.faces.commands", "dicmini.utils"},
             "dicmini.train.evaluate": {"dicmini.train.data", "dicmini.metrics"}, "dicmini.cli": {"dicmini.faces"}}
    assert upward_imports(graph) == ["dicmini.data.commands (data) imports dicmini.faces.commands (faces)",
                                     "dicmini.train.evaluate (analysis, inference and evaluation) imports "
                                     "dicmini.train.data (train)"]


def test_imports_point_down_the_layers():
    """Top-level and function-level imports alike: e.g. ``train`` never imports ``faces`` (the identity metric of
    evaluation is :mod:`dicmini.identity`), ``data`` never registers a ``faces`` command (``cli`` does)."""
    graph, _ = import_graph()
    offenders = upward_imports(graph)
    print("\n".join(offenders))
    assert offenders == []

"""The layout shows the architecture: core's subpackages depend one way, with no import circles.

Every import in ``core/`` (module level and inside functions alike) is read with ``ast``; a module
may import only from its own layer or a lower one of :data:`LAYERS`, the module graph has no
cycle, ``core`` never imports streamlit, the dashboard, the scripts or the benchmarks, and the
scripts and the dashboard never import the benchmarks or the tests' fixtures.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.paths import REPO_ROOT

#: lowest first: a module may import from its own layer and the ones before it
LAYERS = (
    ("core.paths", "core.atomic", "core.device"),
    ("core.runs.format", "core.data"),
    ("core.models",),
    ("core.runs",),
    ("core.evaluation",),
    ("core.training",),
    ("core.studies", "core.explore"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return found


def core_graph() -> dict[str, set[str]]:
    """{core module: the core modules it imports}."""
    files = {module_name(p): p for p in (REPO_ROOT / "core").rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in files and m != name} for name, path in files.items()}


def layer(module: str) -> int:
    """Index of the layer ``module`` belongs to (the longest matching prefix)."""
    best, index = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    if index is None:
        raise AssertionError(f"{module} belongs to no layer of LAYERS: add it where it sits")
    return index


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (strongly connected components of more than one module, or a
    module importing itself), found with Tarjan's algorithm."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_core_has_no_import_circle():
    assert cycles(core_graph()) == []


def test_core_imports_only_downwards():
    upward = [f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
              for module, targets in core_graph().items() for target in sorted(targets)
              if layer(target) > layer(module)]
    assert upward == []


@pytest.mark.parametrize("folder, forbidden", [
    ("core", ("streamlit", "dashboard", "scripts", "benchmarks", "tests")),
    ("dashboard", ("scripts", "benchmarks", "tests")),
    ("scripts", ("dashboard", "benchmarks", "tests")),
])
def test_no_folder_imports_what_sits_above_it(folder, forbidden):
    wrong = [f"{p.relative_to(REPO_ROOT)} imports {m}" for p in sorted((REPO_ROOT / folder).rglob("*.py"))
             for m in sorted(imports_of(p)) if m.split(".")[0] in forbidden]
    assert wrong == []


def test_core_is_in_subpackages_by_job():
    """core's top level holds only the leaf utilities; everything else sits in a subpackage."""
    top = sorted(p.name for p in (REPO_ROOT / "core").glob("*.py"))
    assert top == ["__init__.py", "atomic.py", "device.py", "paths.py"]
    assert {p.name for p in (REPO_ROOT / "core").iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "data", "models", "runs", "training", "evaluation", "studies", "explore"}


def test_the_repository_root_is_defined_once():
    defined = [str(p.relative_to(REPO_ROOT)) for folder in ("core", "dashboard", "scripts", "benchmarks", "tests")
               for p in (REPO_ROOT / folder).rglob("*.py") if "REPO_ROOT = " in p.read_text(encoding="utf-8")
               and p.name != "test_architecture.py"]
    assert defined == ["core/paths.py"]


def test_the_dashboards_modules_are_imported_under_one_name():
    """``dashboard/common.py`` is ``dashboard.common`` everywhere: a page importing it as ``common``
    (Streamlit puts the script's folder on the path) would load the same file twice, with two copies
    of its caches and constants."""
    local = {p.stem for p in (REPO_ROOT / "dashboard").iterdir() if p.suffix == ".py" or p.is_dir()}
    wrong = [f"{p.relative_to(REPO_ROOT)} imports {m}" for folder in ("dashboard", "tests", "benchmarks")
             for p in sorted((REPO_ROOT / folder).rglob("*.py")) for m in sorted(imports_of(p))
             if m.split(".")[0] in local]
    assert wrong == []


def test_no_style_sheet_or_script_is_written_in_a_python_string():
    """The dashboard's CSS and JavaScript live in .css and .js files (dashboard/assets/, beside each
    component), not in Python strings."""
    inline = [str(p.relative_to(REPO_ROOT)) for p in sorted((REPO_ROOT / "dashboard").rglob("*.py"))
              if "<style" in p.read_text(encoding="utf-8") or "<script" in p.read_text(encoding="utf-8")]
    assert inline == []

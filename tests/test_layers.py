"""The project's import graph: no import circle, and each layer imports only the layers below it.

The graph is read from the source with ``ast``, not by importing anything: every ``import`` and
``from ... import`` in every .py file under contract/, hinr/, sweeps/, analysis/ and launch.py,
wherever it stands (module level, inside a function, under ``if TYPE_CHECKING:`` or ``if
__name__ == "__main__":``), relative imports resolved, only edges to the project's own modules
kept.  A function-local import hides a circle from Python's import machinery (it runs after both
modules have loaded) but not from a reader, who still has to understand the two modules
together; so it counts here like any other.  ``from pkg import name`` is an edge to
``pkg.name`` when that is a module of the project, else to ``pkg`` itself;
``importlib.import_module`` (the PEP 562 lazy names of ``hinr`` and ``analysis``) is not an
import statement and is not read.

The layers, lowest first (issue 27)::

    contract   the results contract (Parquet layout, metric registry, config fields, the atomic
               write, the one checked reader of a results directory); imports nothing of the
               project: pyarrow (and numpy, its own dependency), yaml and the standard library only
    hinr       the science; imports contract
    sweeps     YAML sweep files and the sweep around Ray Tune; imports contract and hinr.
               Inside it, Ray is imported by the Tune adapter, sweeps.tune, only, and the rest
               of sweeps (the Ray-free core) does not import the adapter: launch.py calls both
    analysis   Parquet -> report; imports contract only
    launch.py  the command line; may import anything

``python tests/test_layers.py`` prints the graph's summary: modules, edges (function-local ones
counted apart), circles, layer violations and Ray imports outside the adapter.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "hinr", "sweeps", "analysis")
SCRIPTS = ("launch.py",)

# Which layers each layer may import (itself included).  A module's layer is its top package
# (launch.py is the layer "launch").
ALLOWED = {
    "contract": {"contract"},
    "hinr": {"contract", "hinr"},
    "sweeps": {"contract", "hinr", "sweeps"},
    "analysis": {"contract", "analysis"},
    "launch": {"contract", "hinr", "sweeps", "analysis", "launch"},
}

# The one package of the project that may import Ray (``import ray``, ``from ray... import``),
# and that the rest of sweeps may not import (issue 27: a Ray-free core and one Tune adapter).
ADAPTER = "sweeps.tune"

# Imports from a lower layer into a higher one that are still allowed, each with the reason it
# could not go yet: {(importer, imported): "why (issue N)"}.  Empty since issue 27: keep it so.
# Circles have no such list: there must be none.
EXCEPTIONS: dict[tuple[str, str], str] = {}


# ------------------------------------------------------------------------------ the graph
def source_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every module of the project."""
    files = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    files += [root / s for s in SCRIPTS if (root / s).is_file()]
    return {module_name(p, root): p for p in files}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if not level:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _own(name: str, modules: set[str]) -> str | None:
    """The project module ``name`` names (its longest prefix that is one), or None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, modules: set[str]) -> list[tuple[str, int, str]]:
    """(imported project module, line, where) for every import statement in ``path``; where
    is "function" (inside a function), "TYPE_CHECKING" (under ``if TYPE_CHECKING:``) or
    "module"."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where: dict[int, str] = {}  # id of an import node -> where it stands, if not "module"
    for block in ast.walk(tree):
        if isinstance(block, ast.If) and _is_type_checking(block):
            where.update((id(n), "TYPE_CHECKING") for stmt in block.body for n in ast.walk(stmt)
                         if isinstance(n, (ast.Import, ast.ImportFrom)))
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            where.update((id(n), "function") for n in ast.walk(fn)
                         if isinstance(n, (ast.Import, ast.ImportFrom)))
    out = []
    for node in ast.walk(tree):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_own(a.name, modules) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else _own(base, modules))
        for target in targets:
            if target and target != module:
                out.append((target, node.lineno, where.get(id(node), "module")))
    return out


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[tuple[str, str, int, str]]]:
    """({module: the project modules it imports}, every import as (from, to, line, where))."""
    files = source_files(root)
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in files}
    edges = []
    for module, path in sorted(files.items()):
        for target, line, where in imports_of(module, path, modules):
            graph[module].add(target)
            edges.append((module, target, line, where))
    return graph, edges


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself),
    each sorted: every module of one can reach every other (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def circle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One closed path through a circle: a -> b -> ... -> a (shortest back to its first module)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no path back to {start} in {component}")


def layer(module: str) -> str:
    return module.split(".")[0]


def violations(edges) -> list[tuple[str, str, int]]:
    """Imports against the layer rule, exceptions left out: (from, to, line)."""
    bad = []
    for src, dst, line, _ in edges:
        if (src, dst) in EXCEPTIONS:
            continue
        if layer(dst) not in ALLOWED[layer(src)]:
            bad.append((src, dst, line))
    return bad


def _in_adapter(module: str) -> bool:
    return module == ADAPTER or module.startswith(ADAPTER + ".")


def ray_imports(root: Path = ROOT) -> list[tuple[str, int, str]]:
    """Every import of Ray in the project, wherever it stands: (module, line, what it
    imports), for ``import ray...`` and ``from ray... import``."""
    found = []
    for module, path in sorted(source_files(root).items()):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [(module, node.lineno, name) for name in names
                      if name == "ray" or name.startswith("ray.")]
    return found


def adapter_problems(root: Path = ROOT) -> list[str]:
    """Ray imported outside the adapter, ``ray.air`` imported anywhere (Ray's own code moved
    its public names to ``ray.tune``), and the core of sweeps importing the adapter."""
    bad = [f"{m} imports {name} (line {line}): only {ADAPTER} may import Ray"
           for m, line, name in ray_imports(root) if not _in_adapter(m)]
    bad += [f"{m} imports {name} (line {line}): import from ray.tune or ray, not ray.air"
            for m, line, name in ray_imports(root) if name.split(".")[:2] == ["ray", "air"]]
    _, edges = import_graph(root)
    bad += [f"{src} imports {dst} (line {line}): the core of sweeps does not import {ADAPTER}"
            for src, dst, line, _ in edges
            if layer(src) == "sweeps" and not _in_adapter(src) and _in_adapter(dst)]
    return bad


def _edge_lines(edges, src: str, dst: str) -> str:
    found = sorted({(line, where) for s, d, line, where in edges if (s, d) == (src, dst)})
    return ", ".join(f"line {line}" + {"function": " (in a function)",
                                        "TYPE_CHECKING": " (under TYPE_CHECKING)"}.get(where, "")
                     for line, where in found)


def summary(root: Path = ROOT) -> str:
    graph, edges = import_graph(root)
    pairs = {(s, d) for s, d, _, _ in edges}
    module_level = {(s, d) for s, d, _, where in edges if where == "module"}
    lines = [f"modules: {len(graph)}",
             f"edges (module -> module): {len(pairs)}, of which {len(pairs - module_level)} "
             "only through imports inside functions or under TYPE_CHECKING"]
    found = circles(graph)
    lines.append(f"circles: {len(found)}")
    for component in found:
        path = circle_path(graph, component)
        lines.append(f"  {len(component)} modules: {', '.join(component)}")
        lines.append(f"    e.g. {' -> '.join(path)}; its imports:")
        for src, dst in sorted(p for p in pairs if set(p) <= set(component)):
            lines.append(f"      {src} -> {dst}: {_edge_lines(edges, src, dst)}")
    bad = violations(edges)
    lines.append(f"layer violations: {len(bad)}")
    lines += [f"  {src} -> {dst} (line {line})" for src, dst, line in bad]
    lines.append(f"layer exceptions: {len(EXCEPTIONS)}")
    lines += [f"  {src} -> {dst}: {why}" for (src, dst), why in EXCEPTIONS.items()]
    problems = adapter_problems(root)
    lines.append(f"modules importing Ray: {len({m for m, _, _ in ray_imports(root)})}, all in "
                 f"{ADAPTER}" if not problems else f"Tune adapter problems: {len(problems)}")
    lines += [f"  {p}" for p in problems]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ tests
def test_the_scan_sees_every_kind_of_import():
    """The graph is not empty by accident: module-level, function-local, relative,
    ``from pkg import module`` and TYPE_CHECKING imports are all edges."""
    graph, edges = import_graph()
    assert {"hinr.data", "sweeps.tune.run", "sweeps.spec", "analysis.report", "launch"} <= set(graph)
    assert "sweeps.spec" in graph["sweeps.tune.run"]  # from ..spec import ... (relative)
    assert "contract.metrics" in graph["sweeps.spec"]  # from contract import metrics (a submodule)
    assert "sweeps.tune.run" in graph["launch"]  # only inside functions
    assert {w for s, d, _, w in edges if (s, d) == ("launch", "sweeps.tune.run")} == {"function"}


def test_circles_are_found_however_the_import_is_hidden(tmp_path):
    """The detector on a made-up project: circles through a function-local import, a
    relative one, one under TYPE_CHECKING and one in a ``__main__`` block are all reported,
    each with a path."""
    pkg = tmp_path / "sweeps"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from sweeps.c import x\n")
    (pkg / "c.py").write_text("from .a import y\n")
    (pkg / "d.py").write_text("import sweeps.a\nimport sweeps.e\n")
    (pkg / "e.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from .d import z\n")
    (pkg / "f.py").write_text("from .g import main\n")
    (pkg / "g.py").write_text("if __name__ == '__main__':\n    import sweeps.f\n")
    graph, edges = import_graph(tmp_path)
    assert circles(graph) == [["sweeps.a", "sweeps.b", "sweeps.c"], ["sweeps.d", "sweeps.e"],
                              ["sweeps.f", "sweeps.g"]]
    assert circle_path(graph, ["sweeps.a", "sweeps.b", "sweeps.c"]) == [
        "sweeps.a", "sweeps.b", "sweeps.c", "sweeps.a"]
    assert [w for s, d, _, w in edges if s == "sweeps.e"] == ["TYPE_CHECKING"]
    assert [w for s, d, _, w in edges if s == "sweeps.b"] == ["function"]


def test_the_layer_rule_itself():
    """Upward imports are refused wherever they stand; the contract imports nothing of the
    project, and analysis nothing but the contract."""
    edges = [("hinr.data", "sweeps.spec", 1, "function"),
             ("analysis.load", "contract.schema", 2, "module"),
             ("analysis.load", "contract.resultsdir", 3, "function"),
             ("analysis.extended", "sweeps.adaptive", 4, "function"),
             ("contract.resultsdir", "hinr.config", 5, "module"),
             ("sweeps.run", "analysis.load", 6, "TYPE_CHECKING"),
             ("sweeps.run", "launch", 7, "function"),
             ("launch", "analysis", 8, "function"),
             ("sweeps.run", "hinr.data", 9, "module"),
             ("hinr.data", "contract.atomic", 10, "module"),
             ("analysis.labels", "hinr.config", 11, "function"),
             ("contract.schema", "contract.metrics", 12, "module")]
    assert violations(edges) == [("hinr.data", "sweeps.spec", 1),
                                 ("analysis.extended", "sweeps.adaptive", 4),
                                 ("contract.resultsdir", "hinr.config", 5),
                                 ("sweeps.run", "analysis.load", 6), ("sweeps.run", "launch", 7),
                                 ("analysis.labels", "hinr.config", 11)]


def test_no_import_circles():
    graph, edges = import_graph()
    found = circles(graph)
    message = []
    for component in found:
        path = circle_path(graph, component)
        message.append(" -> ".join(path) + " ("
                       + "; ".join(f"{s} -> {d}: {_edge_lines(edges, s, d)}"
                                   for s, d in zip(path, path[1:])) + ")")
    assert not found, "import circles (move the shared code into the lower module):\n" \
        + "\n".join(message)


def test_each_layer_imports_only_the_layers_below_it():
    _, edges = import_graph()
    bad = violations(edges)
    assert not bad, "imports against the layer rule (tests/test_layers.py's docstring):\n" + \
        "\n".join(f"{src} -> {dst} (line {line})" for src, dst, line in bad)


def test_the_contract_imports_nothing_of_the_project():
    """The bottom layer, by its source (function-local imports too) and by what importing it
    loads: nothing of hinr, sweeps or analysis, and neither torch nor Ray."""
    graph, _ = import_graph()
    contract = sorted(m for m in graph if layer(m) == "contract")
    assert {"contract.schema", "contract.metrics", "contract.resultsdir",
            "contract.atomic"} <= set(contract)
    outside = {m: sorted(d for d in graph[m] if layer(d) != "contract") for m in contract}
    assert not any(outside.values()), f"the contract imports the project: {outside}"
    code = ("import sys; import " + ", ".join(contract) + "; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('hinr', 'sweeps', 'analysis', 'torch', 'ray')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_analysis_imports_only_the_contract():
    graph, _ = import_graph()
    outside = sorted((m, d) for m in graph if layer(m) == "analysis" for d in graph[m]
                     if layer(d) not in ("analysis", "contract"))
    assert not outside, f"analysis imports more of the project than the contract: {outside}"


def test_ray_is_imported_by_the_tune_adapter_only():
    """Ray (``import ray``, ``from ray.tune import ...``, function-local ones too) only in
    sweeps/tune/, never ``ray.air``, and no module of the Ray-free core imports the adapter."""
    assert {m for m, _, _ in ray_imports()} >= {"sweeps.tune.run", "sweeps.tune.trainable"}
    bad = adapter_problems()
    assert not bad, "the Tune adapter leaks (tests/test_layers.py's docstring):\n" + "\n".join(bad)


# The policy of a sweep's life (what runs next, what is recorded) that the Tune adapter must
# not import (issue 38): it runs the one stage it is handed, a plain ``sweeps.stage.Stage``.
STAGE_POLICY = ("sweeps.life", "sweeps.commands", "sweeps.extend", "sweeps.adaptive",
                "sweeps.records")


def test_the_tune_adapter_never_imports_the_stage_policy():
    graph, _ = import_graph()
    adapter = [m for m in graph if m == ADAPTER or m.startswith(ADAPTER + ".")]
    assert "sweeps.tune.run" in adapter
    bad = sorted((m, d) for m in adapter for d in graph[m] if d in STAGE_POLICY)
    assert not bad, f"the Tune adapter decides what runs next: {bad}"
    assert all(d in graph for d in STAGE_POLICY), "a policy module was renamed: update the list"


def test_the_ray_check_sees_every_kind_of_ray_import(tmp_path):
    """The check on a made-up project: module-level and function-local Ray imports outside
    the adapter, ray.air inside it, and the core importing the adapter are each reported."""
    for pkg in ("sweeps", "sweeps/tune"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "sweeps" / "a.py").write_text("import ray.tune\n")
    (tmp_path / "sweeps" / "b.py").write_text("def f():\n    from ray import tune\n")
    (tmp_path / "sweeps" / "c.py").write_text("def f():\n    from .tune import d\n")
    (tmp_path / "sweeps" / "tune" / "d.py").write_text("import ray\nfrom ray.air import session\n"
                                                      "from .. import a\n")
    assert [m for m, _, _ in ray_imports(tmp_path)] == ["sweeps.a", "sweeps.b", "sweeps.tune.d",
                                                         "sweeps.tune.d"]
    bad = adapter_problems(tmp_path)
    assert [p.split(" (")[0] for p in bad] == ["sweeps.a imports ray.tune",
                                               "sweeps.b imports ray",
                                               "sweeps.tune.d imports ray.air",
                                               "sweeps.c imports sweeps.tune.d"]


def test_every_layer_exception_is_still_needed():
    """An exception whose import is gone is deleted, so the list only ever shrinks."""
    _, edges = import_graph()
    pairs = {(s, d) for s, d, _, _ in edges}
    stale = [pair for pair in EXCEPTIONS if pair not in pairs]
    assert not stale, f"layer exceptions no longer needed, delete them: {stale}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(summary())


def private_imports(root: Path = ROOT) -> list[tuple[str, int, str, str]]:
    """(module, line, imported module, name) for every ``from X import _name`` where X is
    another module of the project: a leading underscore says "mine only", and a name that
    another module needs is public, named for what it is (issue 44)."""
    files = source_files(root)
    modules = set(files)
    out = []
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _resolve(module, path.name == "__init__.py", node.level, node.module)
            if _own(base, modules) is None or base == module:
                continue
            out += [(module, node.lineno, base, a.name) for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")]
    return out


def test_no_private_name_crosses_a_module():
    assert private_imports() == []


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    """A made-up package of the project under ``root``: ``modules`` name -> source."""
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for module, source in modules.items():
        (pkg / f"{module}.py").write_text(source)


def test_the_private_name_check_sees_relative_and_absolute_imports(tmp_path):
    _package(tmp_path, "analysis", {
        "tables": "def _hidden():\n    pass\n",
        "report": "from .tables import _hidden\nfrom analysis.tables import _hidden as h\n"
                  "from os import _exit\n"})
    assert [(m, line, name) for m, line, _, name in private_imports(tmp_path)] == [
        ("analysis.report", 1, "_hidden"), ("analysis.report", 2, "_hidden")]


# Packages a module may import inside a function, with what importing them costs (seconds of
# start-up, measured 2026-12-08 as `python -c "import X"` minus the interpreter, on this 2-core
# machine with a sweep running beside it): each is needed by some commands only, and
# `launch.py status` must not pay for it.  Anything else is imported at the top of its
# module, or its function-local import carries its own measured cost in a comment just above
# (e.g. "torch costs 1.6 s": the import block that follows it).  docs/architecture.md.
LAZY_IMPORT_COST_S = {"torch": 1.5, "torchvision": 2.7, "ray": 1.1, "scipy": 0.7,
                      "statsmodels": 1.0, "matplotlib": 0.4, "skimage": 0.7, "pyDOE3": 0.8,
                      "optuna": 0.2}
MEASURED = re.compile(r"\d+(\.\d+)? ?m?s\b")


def unmeasured_local_imports(root: Path = ROOT) -> list[str]:
    """``file:line module`` for every function-local import that is neither of a package in
    LAZY_IMPORT_COST_S nor under a comment giving its cost."""
    out = []
    # launch.py is left out: each command's imports are inside it on purpose, and the cost
    # that asks for it stands once above them (status: 0.43 s against 2.6 s)
    for module, path in source_files(root).items():
        if path.name in SCRIPTS:
            continue
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        nodes = {id(n): n for fn in ast.walk(tree)
                 if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in nodes.values():
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else ["." * node.level + (node.module or "")])
            if all(n.split(".")[0] in LAZY_IMPORT_COST_S for n in names):
                continue
            if not _cost_above(lines, node.lineno - 1):
                out.append(f"{path.relative_to(root)}:{node.lineno} {', '.join(names)}")
    return sorted(out)


def _cost_above(lines: list[str], index: int) -> bool:
    """Whether the import on ``lines[index]`` (or the block of imports, comments and blank
    lines just above it) has a comment with a measured cost."""
    while index >= 0:
        text = lines[index].strip()
        if "#" in text and MEASURED.search(text.split("#", 1)[1]):
            return True
        if text and not text.startswith(("#", "import ", "from ")) and index != 0:
            return False
        index -= 1
    return False


def test_every_function_local_import_keeps_its_promise():
    assert unmeasured_local_imports() == []


def test_the_local_import_check_sees_an_unmeasured_one(tmp_path):
    _package(tmp_path, "sweeps", {"a": (
        "def f():\n    import json\n    return json\n\n\n"
        "def g():\n    # yaml costs 0.05 s here\n    import yaml\n\n    import torch\n"
        "    return yaml, torch\n")})
    assert unmeasured_local_imports(tmp_path) == ["sweeps/a.py:2 json"]


# Rooms inside a layer (issue 44): each module of analysis and sweeps belongs to one, and a
# room imports only the rooms its entry names.  A new module is placed here, or this fails.
ROOMS = {
    "analysis": {
        # the results read and the statistics: nothing of tables, figures or reports
        "data": {"load", "images", "columns", "stats"},
        # tables and analyses built from them (DataFrames a notebook uses as they are)
        "tables": {"levels", "effects", "selection", "paper", "failures", "compare", "tables",
                   "claims", "labels", "design_model", "model_effects", "importance", "extended",
                   "family",
                   "api"},
        # figures drawn from the tables (and the Explore section's data, with its figures)
        "figures": {"plots", "pictures", "explore_model"},
        # the report (its blocks, sections and renderers) and the commands on top
        "document": {"document", "formatting", "render_html", "render_markdown", "headline",
                     "explore", "explore_html", "model_effects_section", "verdict_sections",
                     "report", "sweep_section", "cli",
                     "live", "optuna_export", "__main__", ""},
    },
    "sweeps": {
        # the sweep file and what it means: parsed, checked, sized; nothing of running it
        "file": {"specerror", "specyaml", "specfields", "specsections", "spec", "design",
                 "adaptive", "equivalence", "primary", "searchtypes", "estimate", "tiny",
                 "modelsize", "samplers"},
        # one trial, as a Ray worker runs it: never the driver's policy or the file's parsing
        "trial": {"trial", "trial_views", "cache", "checkpoint"},
        # the Ray-free driver: results directory, stages, budget, console, commands
        "driver": {"", "rayenv", "sweepdoc", "records", "guard", "invocation", "environment",
                   "console", "results", "storage", "budget", "stage", "life", "extend",
                   "power", "dryrun", "commands"},
        # the Tune adapter: everything below it
        "tune": {"tune"},
    },
}
ROOM_IMPORTS = {
    "analysis": {"data": {"data"}, "tables": {"data", "tables"},
                 "figures": {"data", "tables", "figures"},
                 "document": {"data", "tables", "figures", "document"}},
    "sweeps": {"file": {"file"}, "trial": {"trial"}, "driver": {"file", "driver"},
               "tune": {"file", "trial", "driver", "tune"}},
}


def room(module: str) -> tuple[str, str] | None:
    """(layer, room) of a module of analysis or sweeps (tune's submodules are the room
    "tune"), or None for the other layers."""
    top, _, rest = module.partition(".")
    if top not in ROOMS:
        return None
    name = rest.split(".")[0]
    for label, members in ROOMS[top].items():
        if name in members:
            return top, label
    return top, "?"


def room_violations(edges) -> list[str]:
    out = []
    for src, dst, line, _ in edges:
        a, b = room(src), room(dst)
        if a is None or b is None or a[0] != b[0]:
            continue
        if a[1] == "?" or b[1] not in ROOM_IMPORTS[a[0]][a[1]]:
            out.append(f"{src} ({a[1]}) -> {dst} ({b[1]}), line {line}")
    return sorted(set(out))


def test_every_module_of_analysis_and_sweeps_has_a_room():
    unplaced = [m for m in source_files() if (room(m) or ("", ""))[1] == "?"]
    assert unplaced == [], "place each in tests/test_layers.py's ROOMS"


def test_each_room_imports_only_the_rooms_below_it():
    assert room_violations(import_graph()[1]) == []


def test_the_room_rule_itself():
    made_up = [("analysis.stats", "analysis.report", 3, "module"),  # statistics -> report
               ("sweeps.trial", "sweeps.spec", 5, "function"),  # a worker -> the file parser
               ("sweeps.spec", "sweeps.commands", 7, "module"),
               ("analysis.report", "analysis.stats", 9, "module"),  # downward: fine
               ("sweeps.tune.run", "sweeps.trial", 11, "module")]
    assert room_violations(made_up) == [
        "analysis.stats (data) -> analysis.report (document), line 3",
        "sweeps.spec (file) -> sweeps.commands (driver), line 7",
        "sweeps.trial (trial) -> sweeps.spec (file), line 5"]

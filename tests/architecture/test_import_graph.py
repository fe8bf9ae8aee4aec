"""The house plan, checked: which package may import which (docs/architecture.md explains it).

Every module under app/ and admin/ is parsed (ast, never imported) and each import it makes, at
module level or inside a function, is an edge between two *units*: a sub-package or top-level
module of app/ or admin/ (``app.vision``, ``app.config``, ``admin.auth`` ...). The test fails on

(a) an import of ``admin`` from app/ outside the composition roots (the CLI and the kiosk runner),
(b) an import of a unit on a higher layer of ``LAYERS`` (the layer table below),
(c) a cycle between units (sibling units of one layer may import each other one way only),
(d) more function-level imports of project modules than ``FUNCTION_LEVEL_CEILING``.

A new package or top-level module must be given a layer in ``LAYERS`` (the test says so).
A function-level import is fine where it buys something (a heavy library `daka --help` should not
load, a backend a laptop lacks); say why in a comment next to it. The ceiling only goes down.
"""

from __future__ import annotations

import ast
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

# The checkout: the first folder up from here holding pyproject.toml (tests/architecture/).
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PACKAGES = ("app", "admin")

# Lowest first. A unit may import units of its own layer or below, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Knows nothing of the rest: the package root (version), the compiled core, the dev-data cache,
    # fonts, the systemd socket, the device drivers (each is handed its settings as arguments) and
    # the zh/en text catalogue (app.i18n, coming with issue 17's one catalogue).
    ("base", ("app", "app.native", "app.devdata", "app.fonts", "app.systemd_notify", "app.hardware", "app.i18n")),
    # The instance folder, the validated config, logging.
    ("configuration", ("app.instance", "app.config", "app.logs")),
    # The database: models, migrations, run-time settings rows; the first-run setup code kept there.
    ("store", ("app.store", "app.setup_code")),
    # The model files: where they are, how they are built, verified and opened (ONNX sessions).
    ("models", ("app.models",)),
    # Face detection, landmarks, descriptors, liveness, the gallery, the frame pipeline.
    ("vision", ("app.vision",)),
    # The domain: the face library (enrolment), attendance (punches, journal, outbox, push) and the
    # fleet (issue 20: the central database's objects and roles, the terminals' link to it). The
    # library imports app.fleet (is a store a centre?), so app.fleet never imports app.library.
    ("domain", ("app.library", "app.attendance", "app.fleet")),
    # The terminal without a UI: composition recipes, the Terminal, settings registry, self-checks.
    ("services", ("app.services", "app.doctor")),
    # The front ends: the Kivy kiosk, the Flask admin and ZKTeco's protocols (the kiosk runner hosts them).
    ("front ends", ("app.kiosk", "app.zk", "admin", "admin.*")),
    # Measuring tools: accuracy evaluations and benchmarks (the UI benchmark drives the kiosk).
    ("tools", ("app.eval", "app.bench")),
    # The `daka` command: composes everything.
    ("entry point", ("app.cli",)),
]

# Modules under app/ that may import admin: the places that build a whole process.
COMPOSITION_ROOTS = ("app.cli", "app.kiosk.runner")

# Known violations in files other helpers of issue 17 own; each names its owner. Empty it as
# they merge: the test then holds the rule for everyone.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}
ALLOWED_ADMIN_IMPORTS: dict[str, str] = {}

# Function-level imports of app/admin modules (one per import statement). Lower it when you can.
FUNCTION_LEVEL_CEILING = 95   # 208 before issue 17


@dataclass(frozen=True)
class Import:
    importer: str      # dotted module name
    target: str        # dotted module name (the deepest module the statement names)
    path: Path
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.importer} -> {self.target})"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def collect_imports(root: Path, packages=PACKAGES) -> list[Import]:
    """Every import statement naming a module of `packages`, module-level and function-level."""
    files = {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    found: list[Import] = []

    def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    for name, path in files.items():
        if path.name == "__main__.py":   # a script run with `python -m`, never imported: an entry point
            continue
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

        def visit(node, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if _type_checking_only(child):   # `if TYPE_CHECKING:` imports are for annotations only
                    for other in child.orelse:
                        visit(ast.Module(body=[other], type_ignores=[]), in_function)
                    continue
                nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = resolve(name, is_package, child)
                    # `from app import native` names the module app.native, `from .x import f` names x
                    subs = [f"{base}.{a.name}" for a in child.names if f"{base}.{a.name}" in files]
                    targets = subs if subs else [base]
                    if subs and len(subs) < len(child.names):
                        targets.append(base)
                for target in dict.fromkeys(targets):
                    if target.split(".")[0] in packages:
                        found.append(Import(name, target, path.relative_to(root), child.lineno, in_function))
                visit(child, nested)

        visit(tree, False)
    return found


def _type_checking_only(node) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports the running program never makes."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def unit_of(module: str) -> str:
    """``app.vision.engine`` -> ``app.vision``, ``admin.auth.users`` -> ``admin.auth``."""
    return ".".join(module.split(".")[:2])


def layer_of(unit: str, layers=LAYERS) -> int | None:
    """The index of the unit's layer; a member ``pkg.*`` stands for every unit inside pkg."""
    for index, (_, members) in enumerate(layers):
        if unit in members or any(m.endswith(".*") and unit.startswith(m[:-1]) for m in members):
            return index
    return None


def unit_edges(imports: list[Import]) -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in imports:
        a, b = unit_of(imp.importer), unit_of(imp.target)
        if a != b:
            edges[a, b].append(imp)
    return edges


def cycles(edges) -> list[frozenset[str]]:
    """The strongly connected components of more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


@dataclass
class Report:
    unplaced: list[str]
    admin_imports: list[Import]
    upward: list[Import]
    cycles: list[tuple[frozenset[str], list[Import]]]
    function_level: list[Import]


def check(root: Path, *, layers=LAYERS, roots=COMPOSITION_ROOTS, allowed_cycles=None, allowed_upward=None,
          allowed_admin=None) -> Report:
    imports = collect_imports(root)
    allowed_cycles = allowed_cycles or {}
    allowed_upward = allowed_upward or {}
    allowed_admin = allowed_admin or {}
    units = {unit_of(i.importer) for i in imports} | {unit_of(i.target) for i in imports}
    units |= {unit_of(module_name(root, p)) for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}
    unplaced = sorted(u for u in units if layer_of(u, layers) is None)
    admin_imports = [
        i for i in imports
        if i.importer.split(".")[0] == "app" and i.target.split(".")[0] == "admin"
        and not any(i.importer == r or i.importer.startswith(r + ".") for r in roots)
        and i.importer not in allowed_admin
    ]
    upward = []
    for i in imports:
        a, b = layer_of(unit_of(i.importer), layers), layer_of(unit_of(i.target), layers)
        if a is not None and b is not None and b > a and (i.importer, i.target) not in allowed_upward:
            upward.append(i)
    edges = unit_edges(imports)
    found = []
    for component in cycles(edges):
        if component in allowed_cycles:
            continue
        found.append((component, [imp for (a, b), imps in edges.items()
                                  if a in component and b in component for imp in imps]))
    return Report(unplaced, admin_imports, upward, found, [i for i in imports if i.in_function])


def _lines(imports: list[Import]) -> str:
    return "\n".join("  " + i.where() for i in imports)


# -- the project -----------------------------------------------------------------------------

REPORT = check(ROOT, allowed_cycles=ALLOWED_CYCLES, allowed_upward=ALLOWED_UPWARD,
               allowed_admin=ALLOWED_ADMIN_IMPORTS)


def test_every_unit_has_a_layer():
    assert not REPORT.unplaced, (
        f"give these a layer in LAYERS (tests/architecture/test_import_graph.py) and docs/architecture.md: {REPORT.unplaced}")


def test_only_composition_roots_import_admin():
    assert not REPORT.admin_imports, (
        "only app/cli and app/kiosk/runner.py may import admin; pass what the admin needs down instead:\n"
        + _lines(REPORT.admin_imports))


def test_no_import_points_up():
    assert not REPORT.upward, (
        "these import a layer above their own (see LAYERS); move the shared piece down:\n" + _lines(REPORT.upward))


def test_no_cycles_between_packages():
    text = "\n".join(f"{sorted(c)}:\n{_lines(imps)}" for c, imps in REPORT.cycles)
    assert not REPORT.cycles, "import cycles between packages (move the shared piece down a layer):\n" + text


def test_function_level_imports_stay_under_the_ceiling():
    count = len({(i.path, i.line) for i in REPORT.function_level})
    per_file = Counter(str(i.path) for i in {(i.path, i.line): i for i in REPORT.function_level}.values())
    assert count <= FUNCTION_LEVEL_CEILING, (
        f"{count} function-level project imports > {FUNCTION_LEVEL_CEILING}; most in: {per_file.most_common(8)}")


def test_allow_lists_hold_only_live_exceptions():
    """An allow-list entry whose violation is gone must be removed (it would hide a new one)."""
    bare = check(ROOT)
    live_cycles = {c for c, _ in bare.cycles}
    assert set(ALLOWED_CYCLES) <= live_cycles, f"fixed, remove from ALLOWED_CYCLES: {set(ALLOWED_CYCLES) - live_cycles}"
    live_upward = {(i.importer, i.target) for i in bare.upward}
    assert set(ALLOWED_UPWARD) <= live_upward, f"fixed, remove from ALLOWED_UPWARD: {set(ALLOWED_UPWARD) - live_upward}"
    live_admin = {i.importer for i in bare.admin_imports}
    assert set(ALLOWED_ADMIN_IMPORTS) <= live_admin, (
        f"fixed, remove from ALLOWED_ADMIN_IMPORTS: {set(ALLOWED_ADMIN_IMPORTS) - live_admin}")


# -- the walker, on a planted package ---------------------------------------------------------

def _plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for pkg in PACKAGES:
        (root / pkg).mkdir(exist_ok=True)
        (root / pkg / "__init__.py").touch()


SMALL_LAYERS = [("low", ("app", "app.low")), ("high", ("app.high", "app.cli", "admin", "admin.*"))]


def test_walker_passes_a_clean_package(tmp_path):
    _plant(tmp_path, {
        "app/low/__init__.py": "import os\n",
        "app/low/util.py": "from . import helper_value\n",
        "app/high/__init__.py": "from app.low import util\n",
        "app/cli/__init__.py": "import admin\n",
        "admin/views.py": "from app.high import util\n",
        # type-only imports and a package's `python -m` script are not edges of the running program
        "app/low/typed.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.high import util\n"
                             "else:\n    import os\n"),
        "app/low/__main__.py": "from app.high import util\n",
    })
    report = check(tmp_path, layers=SMALL_LAYERS, roots=("app.cli",))
    assert report == Report([], [], [], [], [])


def test_walker_finds_each_planted_violation(tmp_path):
    _plant(tmp_path, {
        "app/low/__init__.py": "",
        # (b) upward, hidden in a function (d), and half of a cycle (c) with app.high
        "app/low/reader.py": "def read():\n    from app.high import writer\n    return writer\n",
        "app/high/__init__.py": "",
        "app/high/writer.py": "from ..low import reader\n",
        # (a) admin imported from app/ outside the roots, through `from ... import`
        "app/high/panel.py": "from admin import views\n",
        "admin/views.py": "",
        "app/stray.py": "",
        # the `else` of an `if TYPE_CHECKING:` runs: its imports count
        "app/low/typed.py": ("import typing\nif typing.TYPE_CHECKING:\n    pass\n"
                             "else:\n    from app.high import writer\n"),
    })
    report = check(tmp_path, layers=SMALL_LAYERS, roots=("app.cli",))
    assert [i.where() for i in report.admin_imports] == ["app/high/panel.py:1 (app.high.panel -> admin.views)"]
    assert [i.where() for i in report.upward] == ["app/low/reader.py:2 (app.low.reader -> app.high.writer)",
                                                 "app/low/typed.py:5 (app.low.typed -> app.high.writer)"]
    assert [c for c, _ in report.cycles] == [frozenset({"app.low", "app.high"})]
    assert {i.where() for i in report.cycles[0][1]} == {
        "app/low/reader.py:2 (app.low.reader -> app.high.writer)",
        "app/low/typed.py:5 (app.low.typed -> app.high.writer)",
        "app/high/writer.py:1 (app.high.writer -> app.low.reader)"}
    assert [(i.importer, i.in_function) for i in report.function_level] == [("app.low.reader", True)]
    assert report.unplaced == ["app.stray"]
    # the allow-lists silence exactly what they name
    allowed = check(tmp_path, layers=SMALL_LAYERS, roots=("app.cli",),
                    allowed_cycles={frozenset({"app.low", "app.high"}): "x"},
                    allowed_upward={("app.low.reader", "app.high.writer"): "x",
                                    ("app.low.typed", "app.high.writer"): "x"},
                    allowed_admin={"app.high.panel": "x"})
    assert (allowed.admin_imports, allowed.upward, allowed.cycles) == ([], [], [])

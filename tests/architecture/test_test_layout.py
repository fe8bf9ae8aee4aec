"""The tests' own house plan (tests/README.md): every test file in an area folder, every folder a
package, no test file imported by another, no fixture imported (pytest finds fixtures in the conftests)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
NOT_AREAS = {"helpers", "__pycache__"}


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of each import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def test_every_test_file_is_in_an_area_folder():
    misplaced = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                       if "__pycache__" not in p.parts and (p.parent == TESTS or p.parent.name in NOT_AREAS))
    assert not misplaced, f"move these into an area folder (tests/README.md says which): {misplaced}"


def test_every_folder_is_a_package():
    """Module names come from the path (tests.kiosk.test_x), so same-named files never collide."""
    folders = {p.parent for p in python_files()}
    missing = sorted(str(f.relative_to(TESTS.parent)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"add an __init__.py to: {missing}"


def test_no_test_file_or_fixture_is_imported():
    fixtures = {}
    for conftest in TESTS.rglob("conftest.py"):
        tree = ast.parse(conftest.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                    "fixture" in ast.unparse(d) for d in node.decorator_list):
                fixtures[node.name] = conftest
    wrong = []
    for path in python_files():
        for line, module, names in imported_modules(path):
            leaf = module.rsplit(".", 1)[-1]
            where = f"{path.relative_to(TESTS.parent)}:{line}"
            if leaf.startswith("test_") or leaf == "conftest" or leaf.endswith("_support"):
                wrong.append(f"{where} imports {module}")
            if module.startswith("tests."):
                wrong += [f"{where} imports the fixture {name}" for name in names if name in fixtures]
    assert not wrong, "put shared code in tests/helpers/ and fixtures in a conftest.py:\n" + "\n".join(wrong)

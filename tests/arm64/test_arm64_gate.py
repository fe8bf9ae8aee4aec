"""The Makefile's gate of the arm64 run: `make test` runs it only when native/, pyproject.toml, the
installer or scripts/install_system_deps.sh differ from the hash its last passing run recorded in
tests/arm64/arm64_root.sha256. Checked on a copy of those files, with the run replaced by an echo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WOULD_RUN = "the arm64 run would start"


@pytest.fixture
def clone(tmp_path):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, tmp_path / name)
    for folder in ("native", "scripts", "tests/arm64"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests" / "helpers").mkdir()
    shutil.copy2(REPO / "tests" / "helpers" / "debian_roots.py", tmp_path / "tests" / "helpers")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "boards.md").write_text("# Boards\n")
    (tmp_path / "tests" / "arm64" / "arm64_root.sha256").unlink(missing_ok=True)
    return tmp_path


def make(clone: Path, *args: str) -> str:
    proc = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(clone), *args,
                           f"ARM64_TEST=echo {WOULD_RUN}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def record(clone: Path) -> None:
    """What a passing `make test-arm64` leaves: the hash of the files as they were."""
    (clone / "tests" / "arm64" / "arm64_root.sha256").write_text(make(clone, "arm64-hash"))


def test_a_clone_without_a_recorded_run_runs_it(clone):
    assert WOULD_RUN in make(clone, "test-arm64-if-changed")


def test_nothing_changed_since_the_recorded_run_skips_it(clone):
    record(clone)
    out = make(clone, "test-arm64-if-changed")
    assert WOULD_RUN not in out and "as in its last passing run" in out
    (clone / "docs" / "boards.md").write_text("# Boards\n\nmore\n")   # not what the run builds
    assert WOULD_RUN not in make(clone, "test-arm64-if-changed")


@pytest.mark.parametrize("changed", ["native/core/gallery.cpp", "native/CMakeLists.txt", "pyproject.toml",
                                     "scripts/flash_and_setup.sh", "scripts/install_system_deps.sh",
                                     "tests/arm64/probe_child.py", "tests/helpers/debian_roots.py"])
def test_a_change_to_what_it_builds_runs_it_again(clone, changed):
    record(clone)
    with (clone / changed).open("a") as fh:
        fh.write("\n")
    assert WOULD_RUN in make(clone, "test-arm64-if-changed")


def test_a_new_native_file_runs_it_again(clone):
    record(clone)
    (clone / "native" / "core" / "new_kernel.cpp").write_text("// new\n")
    assert WOULD_RUN in make(clone, "test-arm64-if-changed")


def test_arm64_root_always_and_never_override_the_hash(clone):
    record(clone)
    assert WOULD_RUN in make(clone, "test-arm64-if-changed", "ARM64_ROOT=always")
    (clone / "pyproject.toml").write_text("changed\n")
    out = make(clone, "test-arm64-if-changed", "ARM64_ROOT=never")
    assert WOULD_RUN not in out and "skipped (ARM64_ROOT=never)" in out


def test_make_test_goes_through_the_gate(clone):
    """`make test`'s recipe calls the gate after the pytest run (shown with -n, nothing runs)."""
    node = clone / "tests" / "zk" / "node"
    node.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(REPO / "tests" / "zk" / "node" / name, node / name)
    proc = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(clone), "test", "PYTHON=/bin/true"],
                          capture_output=True, text=True, timeout=60)
    assert "tests/arm64/arm64_root.sha256" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]

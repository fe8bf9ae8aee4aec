"""The device's packages exclude what only the tests need; `make test` asks for those itself."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_ONLY = {"postgresql", "chromium", "chromium-driver", "shellcheck", "debootstrap"}


def _base_packages() -> set[str]:
    text = (REPO / "scripts" / "install_system_deps.sh").read_text()
    block = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M).group(1)
    return {w for line in block.splitlines() for w in line.split("#")[0].split()}


def test_run_and_device_packages_leave_out_test_only_ones():
    base = _base_packages()
    assert {"libdlib-dev", "libfreetype-dev", "fonts-wqy-microhei"} <= base   # parsed the real list
    assert not base & TEST_ONLY


def test_make_test_installs_the_test_only_packages():
    makefile = (REPO / "Makefile").read_text()
    listed = set(re.search(r"^TEST_PACKAGES := (.*)$", makefile, re.M).group(1).split())
    assert TEST_ONLY <= listed
    assert "install_system_deps.sh $(TEST_PACKAGES)" in makefile


def _make_dry_run(target: str, stamps: Path) -> str:
    """What `make TARGET` would run on a machine where nothing is installed yet (stamps empty)."""
    import subprocess

    done = subprocess.run(["make", "-n", target, f"STAMPS={stamps}"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout


def test_make_run_installs_no_test_only_python_package(tmp_path):
    """The device gets the runtime only: the test extra (HR protocol clients and servers, the fuzzer,
    the browser driver) and the face_recognition baseline come with `make test`."""
    run = _make_dry_run("run", tmp_path / "stamps")
    assert "pip install -q --no-build-isolation -e ." in run     # the product itself is installed
    assert "[test]" not in run and "test-requirements" not in run and "face_recognition" not in run
    test = _make_dry_run("test", tmp_path / "stamps")
    assert "test-requirements.txt" in test and "face_recognition==1.3.0" in test

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

"""The wheel flash_and_setup.sh installs into /opt/daka/venv (not editable) carries what the app needs.

A non-editable install once lacked models/manifest.toml, so `daka models install` failed on the
device. Building the wheel compiles the native core (minutes): marked slow.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_carries_the_model_manifest_and_the_core(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-C", f"build-dir={tmp_path / 'build'}", "-w", str(tmp_path / "dist"), str(REPO)],
                   check=True, timeout=1800)
    (wheel,) = (tmp_path / "dist").glob("daka-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/models/manifest.toml" in names
    assert zipfile.ZipFile(wheel).read("app/models/manifest.toml") == (REPO / "models" / "manifest.toml").read_bytes()
    assert any(n.startswith("app/native/_core") and n.endswith(".so") for n in names)
    # the text catalogues are read from the package at run time (app/i18n)
    for language in ("zh_CN", "en"):
        assert f"app/i18n/locale/{language}/LC_MESSAGES/messages.po" in names

"""Debian roots of the installer's end-to-end runs (tests/installer/test_setup_chroot.py on this
machine's architecture, tests/arm64/test_arm64_root.py for arm64 under qemu): the debootstrapped
base, made once and kept as a tarball, and the repository's files as a clone has them.

Both runs' hashes in the Makefile (SETUP_FILES, ARM64_FILES) include this file: a change here
runs both again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
MIRROR = os.environ.get("DAKA_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def base_tarball(cache: Path, arch: str, *, timeout: float) -> Path:
    """A minimal Debian ``SUITE`` for ``arch`` with systemd, debootstrapped once into ``cache``
    (``debian-<suite>-<arch>-minbase.tar``); later calls return the same tarball."""
    base = cache / f"debian-{SUITE}-{arch}-minbase.tar"
    if base.exists():
        return base
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is not installed (make test installs it)")
    cache.mkdir(parents=True, exist_ok=True)
    work = cache / "debootstrap"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["debootstrap", f"--arch={arch}", "--variant=minbase", "--include=systemd,systemd-sysv", SUITE,
                    str(work), MIRROR], check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    tmp = base.with_suffix(".tmp")
    subprocess.run(["tar", "-C", str(work), "-cf", str(tmp), "."], check=True)
    tmp.rename(base)
    shutil.rmtree(work)
    return base


def copy_source(dest: Path) -> None:
    """The repository as a clone has it (tracked and new files, nothing ignored), into ``dest``."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True).stdout.split(b"\0")
    dest.mkdir(parents=True, exist_ok=True)
    for name in filter(None, files):
        src = REPO / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())

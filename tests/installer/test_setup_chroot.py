"""scripts/flash_and_setup.sh for real, in a debootstrapped Debian 12 (amd64) root, run twice.

Marked `chroot` (minutes, needs root, debootstrap and the Debian mirror): `make test` runs it when
the script or its templates differ from tests/installer/setup_chroot.sha256, the hash of the last passing run.
The minbase root is cached in .cache/setup-chroot (and the .debs fetched, for local reruns).
The app is installed with --skip-build: the native build and the PyPI downloads of the venv do
not fit the time here; the dry-run tests cover that path.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.debian_roots import REPO, base_tarball, copy_source

pytestmark = pytest.mark.chroot

CACHE = REPO / ".cache" / "setup-chroot"
SETUP_ARGS = ["--skip-build", "--swap", "64M", "--rotate", "90"]
# Written by apt or by the run itself, not by the set-up's decisions.
VOLATILE = ("proc", "dev", "run", "tmp", "var/cache", "var/log/daka-setup.log")


@dataclass
class Run:
    code: int
    out: str

    @property
    def changes(self) -> int:
        match = re.search(r"^==> done: (\d+) change\(s\) made$", self.out, re.M)
        assert match, self.out[-3000:]
        return int(match.group(1))


class Chroot:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
        return subprocess.run(["chroot", str(self.root), *cmd], env=env, capture_output=True, text=True,
                              timeout=timeout)

    def setup(self, *args: str) -> Run:
        proc = self.run("bash", "/root/daka-src/scripts/flash_and_setup.sh", *args, timeout=1500)
        return Run(proc.returncode, proc.stdout + proc.stderr)

    def path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def snapshot(self) -> dict[str, tuple]:
        """Every file's type, mode, owner, size, mtime and link target, outside VOLATILE."""
        state = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in VOLATILE]
            for name in dirnames + filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if rel in VOLATILE:
                    continue
                st = os.lstat(os.path.join(dirpath, name))
                link = os.readlink(os.path.join(dirpath, name)) if stat.S_ISLNK(st.st_mode) else None
                mtime = None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
                state[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size if mtime else 0, mtime, link)
        return state


@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.fail("the chroot run needs root (CI and make test run as root)")
    base = base_tarball(CACHE, "amd64", timeout=1200)
    root = tmp_path_factory.mktemp("debian") / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", str(base)], check=True)
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    debs = CACHE / "debs"
    for deb in debs.glob("*.deb") if debs.is_dir() else ():
        shutil.copy2(deb, root / "var" / "cache" / "apt" / "archives")
    copy_source(root / "root" / "daka-src")
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        chroot = Chroot(root)
        chroot.first = chroot.setup(*SETUP_ARGS)
        debs.mkdir(parents=True, exist_ok=True)
        for deb in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            if not (debs / deb.name).exists():
                shutil.copy2(deb, debs)
        yield chroot
    finally:
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


def test_first_run_provisions_the_system(debian):
    assert debian.first.code == 0, debian.first.out[-5000:]
    assert debian.first.changes > 20
    assert "board pc, debian 12 (bookworm), x86_64" in debian.first.out
    log = debian.path("/var/log/daka-setup.log")
    assert "==> done:" in log.read_text() and "+ write /etc/sudoers.d/daka" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_daka_user_has_device_groups_and_no_sudo(debian):
    out = debian.run("id", "-nG", "daka").stdout.split()
    assert {"daka", "video", "dialout", "gpio", "i2c", "input", "audio"} <= set(out)
    assert "sudo" not in out
    passwd = debian.path("/etc/shadow").read_text()
    assert re.search(r"^daka:[!*]", passwd, re.M)  # no password: autologin only
    instance = debian.path("/var/lib/daka").stat()
    assert stat.S_IMODE(instance.st_mode) == 0o700
    assert debian.run("stat", "-c", "%U", "/var/lib/daka").stdout.strip() == "daka"


SET_TIME = "/usr/local/sbin/daka-set-time"
# The helper's two argument forms, and what the rule must refuse before the helper sees it.
ALLOWED = [("2026-05-01", "08:00:00"), ("2099-12-31", "23:59:59"), ("ntp",)]
REFUSED = [(), ("2026-05-01",), ("2026-05-01", "08:00"), ("2026-05-01", "08:00:00", "x"),
           ("2026-05-01;id", "08:00:00"), ("1999-05-01", "08:00:00"), ("2026-05-01", "08:00:00;id"),
           ("--help",), ("ntp", "x"), ("-s", "2026-05-01 08:00:00"), ("2026-5-1", "8:00:00")]


def sudo_permits(debian, user: str, *args: str) -> bool:
    """Real sudo's verdict on `user` running the helper with these arguments (nothing is run)."""
    proc = debian.run("sudo", "-l", "-U", user, SET_TIME, *args)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode == 0


def test_sudo_allows_daka_only_to_set_the_time(debian):
    check = debian.run("visudo", "-c")
    assert check.returncode == 0, check.stdout + check.stderr
    assert debian.run("visudo", "-cf", "/etc/sudoers.d/daka").returncode == 0
    assert "sudo 1.9.13p3: arguments pinned by a regular expression" in debian.first.out
    listed = debian.run("sudo", "-l", "-U", "daka").stdout
    rules = [line.strip() for line in listed.splitlines() if line.startswith("    (")]
    assert len(rules) == 1 and rules[0].startswith("(root) NOPASSWD: /usr/local/sbin/daka-set-time ^20"), listed
    for args in ALLOWED:
        assert sudo_permits(debian, "daka", *args), args
    for args in REFUSED:
        assert not sudo_permits(debian, "daka", *args), args
    denied = debian.run("runuser", "-u", "daka", "--", "sudo", "-n", "/usr/bin/id")
    assert denied.returncode != 0


def test_the_rule_for_sudo_older_than_1_9_10_pins_the_same_arguments(debian):
    """The installed file carries the wildcard form too (commented out); real sudo matches it alike."""
    installed = debian.path("/etc/sudoers.d/daka").read_text()
    glob = [line for line in installed.splitlines() if line.startswith("# daka ALL=") and " ^" not in line]
    assert len(glob) == 1, installed
    trial = debian.path("/etc/sudoers.d/zz-daka-glob-trial")
    trial.write_text(glob[0].removeprefix("# ").replace("daka ALL=", "nobody ALL=", 1) + "\n")
    trial.chmod(0o440)
    try:
        check = debian.run("visudo", "-c")
        assert check.returncode == 0, check.stdout + check.stderr
        for args in ALLOWED:
            assert sudo_permits(debian, "nobody", *args), args
        for args in REFUSED:
            assert not sudo_permits(debian, "nobody", *args), args
    finally:
        trial.unlink()


FAKE_DAKA = """#!/bin/sh
# Stands in for the app's CLI: `daka admin create-user NAME --role R` reads the password from stdin.
[ "$3" = --help ] && exit 0
{ echo "$*"; cat; } > /var/lib/daka/created-user.txt
"""


def test_the_first_password_is_only_in_the_root_only_credentials_file(debian):
    log = debian.path("/var/log/daka-setup.log")
    creds = debian.path("/root/daka-first-run.txt")
    fake = debian.path("/opt/daka/venv/bin/daka")
    # A log left by an earlier installer, world-readable, with the password printed in it.
    log.write_text(log.read_text() + "  first login:  admin / OldSecret123   (change it after the first login)\n")
    log.chmod(0o644)
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_DAKA)
    fake.chmod(0o755)
    try:
        run = debian.setup("--only", "firstrun")
        assert run.code == 0, run.out[-3000:]
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600 and creds.stat().st_uid == 0
        user, _, password = creds.read_text().strip().partition(" / ")
        assert user == "admin" and len(password) == 16
        received = debian.path("/var/lib/daka/created-user.txt").read_text().splitlines()
        assert received == ["admin create-user admin --role admin", password]
        assert "password in /root/daka-first-run.txt" in run.out
        again = debian.setup("--only", "firstrun")
        assert again.code == 0 and "first-run credentials already made" in again.out
        text = log.read_text()
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert password not in run.out + again.out and password not in text
        assert "OldSecret123" not in text and "first-run credentials already made" in text
    finally:
        shutil.rmtree(debian.path("/opt/daka/venv"), ignore_errors=True)
        creds.unlink(missing_ok=True)
        debian.path("/var/lib/daka/created-user.txt").unlink(missing_ok=True)


def test_units_are_installed_and_enabled(debian):
    unit = debian.path("/etc/systemd/system/daka.service").read_text()
    assert "Restart=always" in unit and "WatchdogSec=30" in unit and "Type=notify" in unit
    for name in ("daka.service", "systemd-timesyncd.service", "getty@tty1.service"):
        state = debian.run("systemctl", "is-enabled", name)
        assert state.stdout.strip() == "enabled", (name, state.stdout, state.stderr)
    assert debian.path("/etc/systemd/system/multi-user.target.wants/daka.service").is_symlink()
    autologin = debian.path("/etc/systemd/system/getty@tty1.service.d/daka-autologin.conf").read_text()
    assert "--autologin daka" in autologin
    analyse = debian.run("systemd-analyze", "cat-config", "systemd/journald.conf")
    assert "SystemMaxUse=200M" in analyse.stdout


def test_kiosk_display_and_touch(debian):
    assert debian.run("dpkg-query", "-W", "xserver-xorg-core", "xinit", "xinput-calibrator").returncode == 0
    session = debian.path("/opt/daka/bin/daka-kiosk-session")
    assert os.access(session, os.X_OK) and "--rotate right" in session.read_text()
    syntax = debian.run("sh", "-n", "/opt/daka/bin/daka-kiosk-session")
    assert syntax.returncode == 0, syntax.stderr
    rule = debian.path("/etc/udev/rules.d/90-daka-touch.rules").read_text()
    assert 'LIBINPUT_CALIBRATION_MATRIX}="0 -1 1 1 0 0 0 0 1"' in rule
    profile = debian.path("/home/daka/.bash_profile")
    assert debian.run("stat", "-c", "%U", "/home/daka/.bash_profile").stdout.strip() == "daka"
    assert "startx" in profile.read_text()


def test_swap_time_and_app(debian):
    swap = debian.path("/swapfile")
    assert swap.stat().st_size == 64 << 20 and stat.S_IMODE(swap.stat().st_mode) == 0o600
    with swap.open("rb") as fh:
        fh.seek(4096 - 10)
        assert fh.read(10) == b"SWAPSPACE2"
    assert "/swapfile none swap sw 0 0" in debian.path("/etc/fstab").read_text()
    assert debian.path("/etc/sysctl.d/90-daka-swap.conf").read_text().strip().endswith("vm.swappiness=10")
    assert debian.run("date", "+%Z").stdout.strip() == "CST"
    assert "NTP=ntp.aliyun.com" in debian.path("/etc/systemd/timesyncd.conf.d/90-daka.conf").read_text()
    assert debian.path("/opt/daka/src/pyproject.toml").is_file()
    assert not debian.path("/opt/daka/src/.venv").exists()
    writable = debian.run("runuser", "-u", "daka", "--", "test", "-w", "/opt/daka/src/app/__init__.py")
    assert writable.returncode != 0  # the service user cannot change the code it runs


def test_second_run_changes_nothing(debian):
    before = debian.snapshot()
    second = debian.setup(*SETUP_ARGS)
    assert second.code == 0, second.out[-5000:]
    assert second.changes == 0, [line for line in second.out.splitlines() if line.startswith("  + ")]
    dry = debian.setup("--dry-run", *SETUP_ARGS)
    assert dry.code == 0 and "==> dry run: 0 change(s) would be made" in dry.out, dry.out[-3000:]
    after = debian.snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == []


def test_uninstall_removes_what_it_installed_and_keeps_the_data(debian):
    run = debian.setup("--uninstall")
    assert run.code == 0, run.out[-5000:]
    for path in ("/etc/systemd/system/daka.service", "/etc/sudoers.d/daka", "/opt/daka", "/swapfile",
                 "/etc/systemd/journald.conf.d/90-daka.conf", "/etc/udev/rules.d/90-daka-touch.rules"):
        assert not debian.path(path).exists(), path
    assert not debian.path("/etc/systemd/system/multi-user.target.wants/daka.service").is_symlink()
    assert "daka-setup" not in debian.path("/etc/fstab").read_text()
    assert debian.path("/var/lib/daka").is_dir()
    assert debian.run("id", "daka").returncode == 0
    assert debian.run("visudo", "-c").returncode == 0

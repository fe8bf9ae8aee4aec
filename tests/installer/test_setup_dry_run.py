"""scripts/flash_and_setup.sh: shellcheck, and each step in --dry-run against fake roots of the boards.

A fake root holds only what the script reads to decide (os-release, the Jetson release file, the
device-tree model, meminfo, CUDA); DAKA_SETUP_STAGE collects the files a real run would write.
The real run is tests/installer/test_setup_chroot.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.installer_roots import OS_RELEASE

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "flash_and_setup.sh"


@dataclass
class Board:
    os: str
    arch: str
    ram_mb: int
    tegra: str | None = None  # first line of /etc/nv_tegra_release
    model: str | None = None  # /proc/device-tree/model
    cuda: bool = False


BOARDS = {
    "jetpack4.6": Board("ubuntu18", "aarch64", 3964, "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022",
                        "NVIDIA Jetson Nano Developer Kit", cuda=True),
    "jetpack5": Board("ubuntu20", "aarch64", 7620, "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
                      "NVIDIA Orin Nano Developer Kit"),
    "jetpack6": Board("ubuntu22", "aarch64", 7620, "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 23:24:25 UTC 2024",
                      "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", cuda=True),
    "raspberrypi": Board("debian12", "aarch64", 8052, model="Raspberry Pi 5 Model B Rev 1.0"),
    "arm64": Board("debian12", "aarch64", 16012, model="Radxa ROCK 5B"),
    "x86_64": Board("ubuntu24", "x86_64", 15890),
}


def make_root(path: Path, board: Board) -> Path:
    (path / "etc").mkdir(parents=True)
    (path / "etc" / "os-release").write_text(OS_RELEASE[board.os])
    (path / "proc").mkdir()
    (path / "proc" / "meminfo").write_text(f"MemTotal:       {board.ram_mb * 1024} kB\nMemFree:  1000 kB\n")
    if board.tegra:
        (path / "etc" / "nv_tegra_release").write_text(board.tegra + "\n# KERNEL_VARIANT: oot\n")
    if board.model:
        (path / "proc" / "device-tree").mkdir()
        (path / "proc" / "device-tree" / "model").write_bytes(board.model.encode() + b"\0")
    if board.cuda:
        nvcc = path / "usr" / "local" / "cuda" / "bin" / "nvcc"
        nvcc.parent.mkdir(parents=True)
        nvcc.write_text("#!/bin/sh\n")
        nvcc.chmod(0o755)
        lib = path / "usr" / "lib" / "aarch64-linux-gnu"
        lib.mkdir(parents=True)
        (lib / "libcudnn.so.8").write_bytes(b"")
    (path / "usr" / "share" / "zoneinfo" / "Asia").mkdir(parents=True)
    (path / "usr" / "share" / "zoneinfo" / "Asia" / "Shanghai").write_bytes(b"TZif")
    return path


@dataclass
class Run:
    code: int
    out: str
    stage: Path

    def staged(self, path: str) -> str:
        return (self.stage / path.lstrip("/")).read_text()

    def step(self, name: str) -> str:
        """The output of one step, from its '==> name:' line to the next step."""
        lines, inside = [], False
        for line in self.out.splitlines():
            if line.startswith("==> "):
                inside = line.startswith(f"==> {name}:")
            if inside:
                lines.append(line)
        assert lines, f"no step {name} in:\n{self.out}"
        return "\n".join(lines)


def dry_run(root: Path, tmp_path: Path, *args: str, arch: str = "x86_64") -> Run:
    stage = tmp_path / f"stage-{len(list(tmp_path.glob('stage-*')))}"
    stage.mkdir()
    env = dict(os.environ, DAKA_SETUP_ROOT=str(root), DAKA_SETUP_STAGE=str(stage), DAKA_SETUP_ARCH=arch)
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    return Run(proc.returncode, proc.stdout + proc.stderr, stage)


@pytest.fixture
def board_run(tmp_path):
    def run(name: str, *args: str) -> Run:
        board = BOARDS[name]
        root = make_root(tmp_path / f"root-{name}-{len(list(tmp_path.iterdir()))}", board)
        result = dry_run(root, tmp_path, *args, arch=board.arch)
        assert result.code == 0, result.out
        return result

    return run


def test_shellcheck_is_clean():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (make test installs it: apt package shellcheck)")
    scripts = [SCRIPT, REPO / "scripts" / "install_system_deps.sh",
               *[p for p in (REPO / "scripts" / "setup").iterdir() if p.read_text().startswith("#!")]]
    proc = subprocess.run(["shellcheck", "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_jetpack_4_6_gets_a_newer_python_cuda_dlib_and_bionic_package_names(board_run):
    run = board_run("jetpack4.6")
    assert "board jetson (Jetson Linux R32.7.1, JetPack 4.6), ubuntu 18.04 (bionic), aarch64" in run.out
    assert "CUDA+cuDNN yes" in run.out
    python = run.step("python")
    assert "standalone" in python and "install CPython 3.11 into /opt/daka/python" in python
    packages = run.step("packages")
    assert "libfreetype6-dev" in packages and "libfreetype-dev " not in packages
    assert "python3-venv" in packages and "python3.11" not in packages  # 18.04 has no 3.11 packages
    assert "systemd-timesyncd" not in packages  # part of systemd on 18.04
    app = run.step("app")
    assert "build dlib with CUDA (CUDA and cuDNN found)" in app and "dlib CUDA on" in app
    assert "2048 MB" in run.step("swap")
    assert "jetson-io" in run.step("display")


def test_jetpack_5_without_cuda_builds_the_cpu_core(board_run):
    run = board_run("jetpack5")
    assert "JetPack 5" in run.out and "CUDA+cuDNN no" in run.out
    assert "install CPython 3.11" in run.step("python")  # Ubuntu 20.04 has Python 3.8
    assert "python3.11" not in run.step("packages")
    assert "systemd-timesyncd" in run.step("packages")
    assert "dlib with CUDA" not in run.step("app")
    assert "1024 MB" in run.step("swap")


def test_jetpack_6_takes_python_3_11_from_the_archive(board_run):
    run = board_run("jetpack6")
    assert "JetPack 6" in run.out and "ubuntu 22.04 (jammy)" in run.out
    assert "archive-3.11" in run.step("python")
    assert "python3.11-venv" in run.step("packages")
    assert "create the venv /opt/daka/venv (/usr/bin/python3.11)" in run.step("app")
    assert "build dlib with CUDA" in run.step("app")


def test_raspberry_pi_enables_the_ads7846_overlay(board_run, tmp_path):
    run = board_run("raspberrypi", "--rotate", "90")
    assert "board raspberrypi" in run.out and "python: system" in run.out
    display = run.step("display")
    assert "update the daka-setup block of /boot/config.txt" in display
    assert "1024 MB" in run.step("swap")


def test_other_arm64_and_x86_64(board_run):
    arm = board_run("arm64")
    assert "board arm64, debian 12 (bookworm), aarch64" in arm.out
    assert "no swap file needed" in arm.step("swap")  # 16 GB
    pc = board_run("x86_64", "--headless")
    assert "board pc, ubuntu 24.04 (noble), x86_64" in pc.out
    assert "xserver-xorg-core" not in pc.step("packages")
    assert "none (--headless)" in pc.step("kiosk")
    unit = pc.staged("/etc/systemd/system/daka.service")
    assert "ExecStart=/opt/daka/venv/bin/daka run --headless\n" in unit
    assert "DISPLAY" not in unit.replace("no display", "")


def test_the_unit_restarts_always_and_has_a_watchdog_the_app_feeds(board_run):
    unit = board_run("jetpack6").staged("/etc/systemd/system/daka.service")
    lines = {line.partition("=")[0]: line.partition("=")[2] for line in unit.splitlines() if "=" in line and not line.startswith("#")}
    assert lines["Type"] == "notify" and lines["Restart"] == "always"
    assert int(lines["WatchdogSec"]) > 0 and lines["User"] == "daka"
    assert lines["ExecStart"] == "/opt/daka/venv/bin/daka run"
    assert lines["ExecStartPre"] == "/opt/daka/bin/daka-wait-display"
    assert "DISPLAY=:0" in unit and "NoNewPrivileges" not in lines  # sudo for the clock must work


HELPER = "/usr/local/sbin/daka-set-time"
REGEX_RULE = (f"daka ALL=(root) NOPASSWD: {HELPER} ^20[0-9]{{2}}-[01][0-9]-[0-3][0-9] [0-2][0-9]\\:[0-5][0-9]\\:[0-5][0-9]$, "
              f"{HELPER} ntp")
GLOB_RULE = (f"daka ALL=(root) NOPASSWD: {HELPER} 20[0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]\\:[0-5][0-9]\\:[0-5][0-9], "
             f"{HELPER} ntp")


def sudo_rule_args(rule: str) -> list[str]:
    """The argument patterns of a rule's commands, as sudo reads them (backslash escapes undone)."""
    commands = rule.split("NOPASSWD: ", 1)[1].split(", ")
    return [c.removeprefix(HELPER + " ").replace("\\:", ":") for c in commands]


@pytest.mark.parametrize("board, rule", [("arm64", REGEX_RULE), ("x86_64", REGEX_RULE), ("jetpack4.6", GLOB_RULE),
                                         ("jetpack5", GLOB_RULE), ("jetpack6", GLOB_RULE)])
def test_sudoers_has_exactly_one_narrow_rule(board_run, board, rule):
    """sudo >= 1.9.10 (Debian 12, Ubuntu 24.04) pins the arguments by a regular expression, older
    sudo (the Jetsons' Ubuntu) by one-character wildcards; both the same two forms. Real sudo's
    verdicts: tests/installer/test_setup_chroot.py."""
    run = board_run(board)
    rules = [line for line in run.staged("/etc/sudoers.d/daka").splitlines() if line and not line.startswith("#")]
    assert rules == [rule]
    assert "regular expression" in run.step("sudoers") if rule is REGEX_RULE else "wildcards" in run.step("sudoers")
    assert (run.stage / "etc" / "sudoers.d" / "daka").stat().st_mode & 0o777 == 0o440
    if shutil.which("visudo") is None:
        pytest.fail("visudo is not installed (make test installs it: apt package sudo)")
    subprocess.run(["visudo", "-cf", str(run.stage / "etc" / "sudoers.d" / "daka")], check=True)


@pytest.mark.parametrize("board", ["arm64", "jetpack6"])
def test_the_rules_argument_patterns_admit_only_the_helpers_two_forms(board_run, board):
    import fnmatch
    import re

    rule = [line for line in board_run(board).staged("/etc/sudoers.d/daka").splitlines()
            if line.startswith("daka ")][0]
    dates, ntp = sudo_rule_args(rule)
    assert ntp == "ntp"
    matches = (lambda args: re.fullmatch(dates[1:-1], args) is not None) if dates.startswith("^") \
        else (lambda args: fnmatch.fnmatchcase(args, dates))
    for good in ("2026-05-01 08:00:00", "2000-01-01 00:00:00", "2099-12-31 23:59:59"):
        assert matches(good), good
    for bad in ("2026-05-01", "2026-05-01 08:00", "2026-05-01 08:00:00 x", "2026-05-01;id 08:00:00",
                "1999-05-01 08:00:00", "-s 2026-05-01 08:00:00", "2026-5-1 8:00:00", "2026-05-01 08:00:0\n"):
        assert not matches(bad), bad


def test_the_time_helper_gives_the_clock_back_to_ntp(tmp_path):
    """`daka-set-time ntp` turns NTP on (timedatectl here records its arguments instead)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "timedatectl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    helper = REPO / "scripts" / "daka-set-time"
    done = subprocess.run(["sh", str(helper), "ntp"], env=env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0 and done.stdout.strip() == "NTP on", done.stderr
    assert calls.read_text() == "set-ntp true\n"
    for args in (["ntp", "x"], ["NTP"], ["ntp;id"]):
        refused = subprocess.run(["sh", str(helper), *args], env=env, capture_output=True, text=True, timeout=10)
        assert refused.returncode == 2 and refused.stderr.startswith(("usage", "daka-set-time: bad")), args
    assert calls.read_text() == "set-ntp true\n"


def test_seeds_nopasswd_all_is_reported(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["jetpack4.6"])
    (root / "etc" / "sudoers.d").mkdir()
    (root / "etc" / "sudoers.d" / "seed").write_text("nvidia ALL=(ALL) NOPASSWD: ALL\n")
    run = dry_run(root, tmp_path, "--only", "sudoers", arch="aarch64")
    assert run.code == 0, run.out
    assert "/etc/sudoers.d/seed grants NOPASSWD: ALL" in run.out


def test_user_joins_device_groups_but_not_sudo(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["jetpack6"])
    (root / "etc" / "group").write_text("sudo:x:27:daka\nvideo:x:44:\ndialout:x:20:daka\ngpio:x:999:\ninput:x:105:\n")
    (root / "etc" / "passwd").write_text("daka:x:1001:1001::/home/daka:/bin/bash\n")
    step = dry_run(root, tmp_path, "--only", "user", arch="aarch64").step("user")
    assert "user daka exists" in step and "create system group i2c" in step
    assert "group gpio exists" in step and "create system group gpio" not in step
    assert "add daka to video" in step and "daka in dialout" in step and "add daka to input" in step
    assert "remove daka from the sudo group" in step
    assert "render does not exist here" in step


@pytest.mark.parametrize("degrees, xrandr", [(0, "normal"), (90, "right"), (180, "inverted"), (270, "left")])
def test_rotation_turns_screen_and_touch_together(board_run, degrees, xrandr):
    run = board_run("raspberrypi", "--rotate", str(degrees))
    assert f"--rotate {xrandr}" in run.staged("/opt/daka/bin/daka-kiosk-session")
    rule = run.staged("/etc/udev/rules.d/90-daka-touch.rules")
    assert 'ATTRS{name}=="ADS7846 Touchscreen"' in rule
    matrix = touch_matrix(rule)
    quarter = touch_matrix(board_run("raspberrypi", "--rotate", "90").staged("/etc/udev/rules.d/90-daka-touch.rules"))
    # Each rotation is that many quarter turns of the 90-degree one, and maps the panel onto itself.
    assert np.allclose(matrix, np.linalg.matrix_power(quarter, degrees // 90))
    corners = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]], float).T
    mapped = (matrix @ corners).T[:, :2]
    assert sorted(map(tuple, mapped.round(6))) == sorted(map(tuple, corners.T[:, :2]))


def touch_matrix(rule: str) -> np.ndarray:
    value = rule.split('LIBINPUT_CALIBRATION_MATRIX}="')[1].split('"')[0]
    return np.array([float(v) for v in value.split()]).reshape(3, 3)


def test_a_measured_touch_matrix_is_used_as_given(board_run):
    run = board_run("raspberrypi", "--rotate", "90", "--touch-matrix", "1.02 0 -0.01 0 0.98 0.02")
    assert 'MATRIX}="1.02 0 -0.01 0 0.98 0.02 0 0 1"' in run.staged("/etc/udev/rules.d/90-daka-touch.rules")


def test_kiosk_session_never_blanks(board_run):
    run = board_run("x86_64")
    session = run.staged("/opt/daka/bin/daka-kiosk-session")
    assert "xset s off" in session and "xset -dpms" in session
    assert '"BlankTime" "0"' in run.staged("/etc/X11/xorg.conf.d/90-daka-kiosk.conf")
    assert "--autologin daka" in run.staged("/etc/systemd/system/getty@tty1.service.d/daka-autologin.conf")
    assert "startx /opt/daka/bin/daka-kiosk-session" in run.staged("/home/daka/.bash_profile")
    assert "allowed_users=console" in run.staged("/etc/X11/Xwrapper.config")


def test_journald_time_zone_and_ntp(board_run):
    run = board_run("jetpack5", "--ntp", "ntp1.example.cn ntp2.example.cn", "--timezone", "Asia/Shanghai")
    assert "SystemMaxUse=200M" in run.staged("/etc/systemd/journald.conf.d/90-daka.conf")
    assert run.staged("/etc/timezone") == "Asia/Shanghai\n"
    assert "NTP=ntp1.example.cn ntp2.example.cn" in run.staged("/etc/systemd/timesyncd.conf.d/90-daka.conf")
    assert "set /etc/localtime -> /usr/share/zoneinfo/Asia/Shanghai" in run.step("time")
    assert "enable systemd-timesyncd.service" in run.step("time")


def test_swap_follows_ram_unless_given(board_run):
    assert "2048 MB" in board_run("jetpack4.6").step("swap")
    assert "512 MB" in board_run("x86_64", "--swap", "512M").step("swap")
    assert "no swap file needed" in board_run("jetpack4.6", "--swap", "0").step("swap")
    assert "vm.swappiness=10" in board_run("x86_64").staged("/etc/sysctl.d/90-daka-swap.conf")


def test_files_already_in_place_are_left_alone(tmp_path):
    """A second dry run over a root holding the first run's files reports them unchanged."""
    root = make_root(tmp_path / "root", BOARDS["raspberrypi"])
    first = dry_run(root, tmp_path, "--rotate", "180", arch="aarch64")
    assert first.code == 0, first.out
    for path in first.stage.rglob("*"):
        if path.is_file():
            target = root / path.relative_to(first.stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    second = dry_run(root, tmp_path, "--rotate", "180", arch="aarch64")
    assert second.code == 0, second.out
    written = [line for line in second.out.splitlines() if "[dry-run] write" in line]
    assert written == [], written
    assert "/etc/sudoers.d/daka unchanged" in second.out
    assert "/boot/config.txt unchanged" in second.out
    # ... and a changed option changes exactly the files that depend on it.
    third = dry_run(root, tmp_path, "--rotate", "90", arch="aarch64")
    written = sorted(line.split()[2] for line in third.out.splitlines() if "[dry-run] write" in line)
    assert written == ["/etc/udev/rules.d/90-daka-touch.rules", "/opt/daka/bin/daka-kiosk-session"]


def test_only_runs_the_named_steps(board_run):
    run = board_run("x86_64", "--only", "journald,time")
    steps = [line.split(":")[0][4:] for line in run.out.splitlines() if line.startswith("==> ")]
    assert steps == ["detect", "journald", "time", "dry run"]


def test_uninstall_lists_what_it_removes(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["x86_64"])
    for path in ("etc/sudoers.d/daka", "etc/systemd/journald.conf.d/90-daka.conf", "opt/daka/src/pyproject.toml"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    (root / "etc" / "fstab").write_text("UUID=1 / ext4 defaults 0 1\n# daka-setup begin\n/swapfile none swap sw 0 0\n# daka-setup end\n")
    (root / "swapfile").write_bytes(b"")
    run = dry_run(root, tmp_path, "--uninstall")
    assert run.code == 0, run.out
    for removed in ("remove /etc/sudoers.d/daka", "remove /etc/systemd/journald.conf.d/90-daka.conf",
                    "remove /opt/daka", "update the daka-setup block of /etc/fstab", "remove /swapfile"):
        assert removed in run.out
    assert "kept: /var/lib/daka" in run.out
    assert (root / "etc" / "sudoers.d" / "daka").exists()  # a dry run removes nothing


def test_the_log_is_for_root_only_even_when_an_old_one_was_not(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["x86_64"])
    fresh = tmp_path / "fresh.log"
    assert dry_run(root, tmp_path, "--log", str(fresh), "--only", "journald").code == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    # An earlier installer left its log world-readable, with the first password printed in it.
    old = tmp_path / "old.log"
    old.write_text("==> done\n\n  admin:        http://10.0.0.5:8080/\n"
                   "  first login:  admin / Xy7mP2qLs9Rt4VwZ   (change it after the first login)\n")
    old.chmod(0o644)
    assert dry_run(root, tmp_path, "--log", str(old), "--only", "journald").code == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    text = old.read_text()
    assert "Xy7mP2qLs9Rt4VwZ" not in text and "admin:        http://10.0.0.5:8080/" in text
    assert "first login:  admin / (removed" in text and "journald" in text


def test_dry_run_changes_nothing_and_logs_when_asked(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["jetpack6"])
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    log = tmp_path / "setup.log"
    run = dry_run(root, tmp_path, "--log", str(log), arch="aarch64")
    assert run.code == 0, run.out
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before
    text = log.read_text()
    assert "flash_and_setup.sh --dry-run --log" in text and "[dry-run] write /etc/sudoers.d/daka" in text
    assert "change(s) would be made" in text


@pytest.mark.parametrize("args, board, message", [
    (["--rotate", "45"], "x86_64", "--rotate must be 0, 90, 180 or 270"),
    (["--touch-matrix", "1 0 0"], "x86_64", "--touch-matrix needs 6 numbers"),
    (["--touch-matrix", "1 0 0 0 1 x"], "x86_64", "'x' is not a number"),
    (["--swap", "lots"], "x86_64", "--swap must be like 2G"),
    (["--timezone", "../../etc/passwd"], "x86_64", "not a zone name"),
    (["--only", "everything"], "x86_64", "unknown step 'everything'"),
    (["--frobnicate"], "x86_64", "unknown option: --frobnicate"),
])
def test_bad_options_are_clear_errors(tmp_path, args, board, message):
    run = dry_run(make_root(tmp_path / "root", BOARDS[board]), tmp_path, *args)
    assert run.code != 0
    assert message in run.out


def test_unsupported_systems_are_refused(tmp_path):
    fedora = make_root(tmp_path / "fedora", Board("fedora", "x86_64", 8000))
    assert "unsupported OS 'fedora'" in dry_run(fedora, tmp_path).out
    old_jetson = make_root(tmp_path / "r32.4", Board("ubuntu18", "aarch64", 4000, "# R32 (release), REVISION: 4.4, GCID: 1"))
    run = dry_run(old_jetson, tmp_path, arch="aarch64")
    assert run.code != 0 and "older than JetPack 4.6" in run.out
    armhf = make_root(tmp_path / "armhf", BOARDS["arm64"])
    run = dry_run(armhf, tmp_path, arch="armv7l")
    assert run.code != 0 and "unsupported architecture 'armv7l'" in run.out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a Debian/Ubuntu system" in dry_run(empty, tmp_path).out


def test_a_failing_step_names_itself_and_exits_non_zero(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["x86_64"])
    not_daka = tmp_path / "not-daka"
    (not_daka / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install_system_deps.sh", not_daka / "scripts")
    run = dry_run(root, tmp_path, "--source", str(not_daka), "--only", "app")
    assert run.code == 1
    assert f"error: {not_daka} is not a Daka source tree" in run.out


def test_another_root_is_for_dry_runs_only(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["x86_64"])
    proc = subprocess.run(["bash", str(SCRIPT), "--root", str(root)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "is for --dry-run only" in proc.stderr
    assert not any(p.name == "sudoers.d" for p in root.rglob("*"))


def test_staged_scripts_are_executable(board_run):
    run = board_run("x86_64")
    for name in ("daka-kiosk-session", "daka-wait-display"):
        assert (run.stage / "opt" / "daka" / "bin" / name).stat().st_mode & stat.S_IXUSR


# issue 20: --fleet-url makes a fleet terminal
def test_fleet_url_writes_the_fleet_lines_of_daka_toml_keeping_the_rest(tmp_path):
    import tomllib

    from app.config import load_config
    from app.instance import Instance

    url = "postgresql://daka_t_gate1:s3cret-PW@central.lan:5432,standby.lan:5432/daka?target_session_attrs=read-write"
    root = make_root(tmp_path / "root", BOARDS["x86_64"])
    config = root / "var" / "lib" / "daka" / "daka.toml"
    config.parent.mkdir(parents=True)
    config.write_text('# the installer\'s own choices\n[device]\nname = "南门"\n', encoding="utf-8")
    run = dry_run(root, tmp_path, "--headless", "--only", "fleet", "--fleet-url", url)
    assert run.code == 0, run.out
    assert "write /var/lib/daka/daka.toml (mode 600, daka:daka)" in run.step("fleet")
    staged = run.staged("/var/lib/daka/daka.toml")
    assert tomllib.loads(staged) == {"device": {"name": "南门"}, "fleet": {"database_url": url}}
    assert "s3cret-PW" not in run.out
    # the daka the board runs reads it as a fleet terminal
    instance = Instance(tmp_path / "instance").prepare()
    instance.config_path.write_text(staged, encoding="utf-8")
    assert load_config(instance).fleet.database_url == url

    # run again with the file as written: the block is replaced, not repeated; without the option it goes
    config.write_text(staged, encoding="utf-8")
    again = dry_run(root, tmp_path, "--headless", "--only", "fleet", "--fleet-url", url)
    assert again.staged("/var/lib/daka/daka.toml") == staged
    gone = dry_run(root, tmp_path, "--headless", "--only", "fleet")
    assert gone.code == 0 and "standalone" in gone.step("fleet")
    assert tomllib.loads(gone.staged("/var/lib/daka/daka.toml")) == {"device": {"name": "南门"}}


def test_a_fleet_url_that_is_not_postgresql_is_refused(tmp_path):
    root = make_root(tmp_path / "root", BOARDS["x86_64"])
    for bad in ("mysql://x@y/z", 'postgresql://a:"b@c/d', "postgresql://a b@c/d"):
        run = dry_run(root, tmp_path, "--fleet-url", bad)
        assert run.code == 1 and "--fleet-url: not a postgresql:// URL" in run.out, run.out

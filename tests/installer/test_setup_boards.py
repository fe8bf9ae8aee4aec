"""scripts/flash_and_setup.sh's board handling, in --dry-run against fake roots: which board it
detects (or is told with --board), which CPU the native core is compiled for (never the builder's
own: an SD card set up on one board is cloned onto the next, and under emulation "native" is the
emulator's), and the pins a glibc older than 2.28 needs (docs/boards.md). The real build for arm64
is tests/arm64/test_arm64_root.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.installer_roots import OS_RELEASE

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "flash_and_setup.sh"

TEGRA = {
    "R32": "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022",
    "R35": "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
    "R36": "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 23:24:25 UTC 2024",
}


def make_root(path: Path, os_name: str, model: str | None = None, compatible: list[str] | None = None,
              tegra: str | None = None) -> Path:
    (path / "etc").mkdir(parents=True)
    (path / "etc" / "os-release").write_text(OS_RELEASE[os_name])
    (path / "proc" / "device-tree").mkdir(parents=True)
    (path / "proc" / "meminfo").write_text("MemTotal:       8000000 kB\n")
    if model:
        (path / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\0")
    if compatible:
        (path / "proc" / "device-tree" / "compatible").write_bytes(b"".join(c.encode() + b"\0" for c in compatible))
    if tegra:
        (path / "etc" / "nv_tegra_release").write_text(TEGRA[tegra] + "\n")
    (path / "usr" / "share" / "zoneinfo" / "Asia").mkdir(parents=True)
    (path / "usr" / "share" / "zoneinfo" / "Asia" / "Shanghai").write_bytes(b"TZif")
    return path


def dry_run(root: Path, *args: str, arch: str = "aarch64", tz: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DAKA_SETUP_ROOT=str(root), DAKA_SETUP_ARCH=arch)
    if tz:
        env["TZ"] = tz
    env.pop("DAKA_SETUP_STAGE", None)
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--only", "app", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    proc.out = proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("os_name, model, compatible, tegra, board, cpu", [
    ("debian12", "Raspberry Pi 5 Model B Rev 1.0", None, None, "raspberrypi", "cortex-a76 (-mcpu=cortex-a76)"),
    ("debian12", "Raspberry Pi 4 Model B Rev 1.5", None, None, "raspberrypi", "cortex-a72 (-mcpu=cortex-a72)"),
    ("debian12", "Raspberry Pi Compute Module 4 Rev 1.0", None, None, "raspberrypi", "cortex-a72"),
    ("debian12", "Raspberry Pi 3 Model B Plus Rev 1.3", None, None, "raspberrypi", "cortex-a53"),
    ("debian12", "Radxa ROCK 5B", ["radxa,rock-5b", "rockchip,rk3588"], None, "rk3588",
     "cortex-a76.cortex-a55 (-mcpu=cortex-a76.cortex-a55)"),
    ("ubuntu22", "Orange Pi 5 Plus", ["rockchip,rk3588-orangepi-5-plus", "rockchip,rk3588"], None, "rk3588",
     "cortex-a76.cortex-a55"),
    ("debian12", "Some arm64 board", ["vendor,board", "rockchip,rk3399"], None, "arm64",
     "the aarch64 baseline (ARMv8-A, NEON)"),
    ("ubuntu18", "NVIDIA Jetson Nano Developer Kit", None, "R32", "jetson", "cortex-a57 (-mcpu=cortex-a57)"),
    ("ubuntu20", "NVIDIA Orin Nano Developer Kit", None, "R35", "jetson", "cortex-a76 (-mcpu=cortex-a76)"),
    ("ubuntu20", "Jetson-AGX Xavier", None, "R35", "jetson", "the aarch64 baseline"),
    ("ubuntu22", "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", None, "R36", "jetson",
     "cortex-a78ae (-mcpu=cortex-a78ae)"),
])
def test_each_board_compiles_the_core_for_its_own_cpu(tmp_path, os_name, model, compatible, tegra, board, cpu):
    run = dry_run(make_root(tmp_path / "root", os_name, model, compatible, tegra))
    assert run.returncode == 0, run.out
    assert f"==> detect: board {board}" in run.out
    assert f"native core compiled for: {cpu}" in run.out
    name = cpu.split()[0] if "baseline" not in cpu else "off"
    assert f"build and install the app (native core for {name}" in run.out
    assert "march=native" not in run.out


def test_a_pc_keeps_building_for_its_own_cpu(tmp_path):
    run = dry_run(make_root(tmp_path / "root", "debian12"), arch="x86_64")
    assert run.returncode == 0, run.out
    assert "board pc" in run.out and "native core compiled for: the CPU that builds (-march=native)" in run.out


def test_board_and_cpu_can_be_given_where_nothing_tells_them(tmp_path):
    """A chroot (the arm64 run) or an image prepared elsewhere has no device tree of the board."""
    root = make_root(tmp_path / "root", "debian12")
    assert "board arm64" in dry_run(root).out
    run = dry_run(root, "--board", "raspberrypi")
    assert "board raspberrypi" in run.out and "native core compiled for: cortex-a76" in run.out
    run = dry_run(root, "--board", "rk3588", "--cpu", "cortex-a55")
    assert "board rk3588" in run.out and "native core compiled for: cortex-a55 (-mcpu=cortex-a55)" in run.out
    run = dry_run(root, "--cpu", "off")
    assert "native core compiled for: the aarch64 baseline" in run.out
    run = dry_run(root, "--cpu", "native")
    assert "native core compiled for: the CPU that builds" in run.out
    jetson = make_root(tmp_path / "jetson", "ubuntu18", "NVIDIA Jetson Nano Developer Kit", tegra="R32")
    assert "board jetson" in dry_run(jetson, "--board", "arm64").out   # the release file wins


@pytest.mark.parametrize("args, arch, message", [
    (["--board", "jetson"], "aarch64", "--board must be raspberrypi, rk3588, arm64 or pc"),
    (["--board", "pc"], "aarch64", "--board pc on aarch64"),
    (["--board", "raspberrypi"], "x86_64", "--board raspberrypi on x86_64"),
    (["--cpu", "cortex-a76;reboot"], "aarch64", "--cpu: not a CPU name"),
    (["--cpu", "-march=native"], "aarch64", "--cpu: not a CPU name"),
])
def test_bad_board_options_are_clear_errors(tmp_path, args, arch, message):
    run = dry_run(make_root(tmp_path / "root", "debian12"), *args, arch=arch)
    assert run.returncode != 0 and message in run.out, run.out


def test_glibc_2_27_pins_the_last_onnxruntime_with_a_wheel_for_it(tmp_path):
    """JetPack 4.6 (Ubuntu 18.04, glibc 2.27): onnxruntime 1.29 on are manylinux_2_28 only."""
    nano = dry_run(make_root(tmp_path / "nano", "ubuntu18", "NVIDIA Jetson Nano Developer Kit", tegra="R32"))
    assert "glibc 2.27 < 2.28: pinned onnxruntime==1.28.0" in nano.out
    for os_name, tegra in (("ubuntu20", "R35"), ("ubuntu22", "R36")):
        orin = dry_run(make_root(tmp_path / os_name, os_name, "NVIDIA Orin Nano Developer Kit", tegra=tegra))
        assert orin.returncode == 0 and "pinned" not in orin.out, orin.out
    pi = dry_run(make_root(tmp_path / "pi", "debian12", "Raspberry Pi 5 Model B Rev 1.0"))
    assert "pinned" not in pi.out


def built_once(tmp_path: Path, tz: str | None = None) -> tuple[Path, Path, Path]:
    """A source tree, a root with it installed in /opt/daka/src and a venv, and the build stamp
    the installer's first (dry) run printed written where a real build writes it. Returns the
    source, the root and the installed source."""
    source = tmp_path / "source"
    (source / "app").mkdir(parents=True)
    (source / "pyproject.toml").write_text("[project]\nname = 'daka'\n")
    (source / "app" / "__init__.py").write_text("")
    (source / "app" / "a name with spaces.py").write_text("x = 1\n")
    (source / ".gitignore").write_text("/build/\n")
    root = make_root(tmp_path / "root", "debian12", "Raspberry Pi 5 Model B Rev 1.0")
    installed = root / "opt" / "daka" / "src"
    installed.parent.mkdir(parents=True)
    subprocess.run(["rsync", "-a", f"{source}/", f"{installed}/"], check=True)
    python = root / "opt" / "daka" / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    first = dry_run(root, "--source", str(source), tz=tz)
    assert "not built yet" in first.out, first.out
    stamp = next(line.split("build stamp: ", 1)[1].split(" (", 1)[0] for line in first.out.splitlines()
                 if "build stamp: " in line)
    (python.parent.parent / ".daka-build").write_text(stamp + "\n")
    return source, root, installed


def test_the_build_folder_left_in_the_source_does_not_rebuild_the_app(tmp_path):
    """The installed source's top folder changes its time when the build makes build/ in it; the
    build stamp must not see that, or every run rebuilds the core (found by tests/arm64)."""
    source, root, installed = built_once(tmp_path)
    assert "the app in /opt/daka/venv is built from this source" in dry_run(root, "--source", str(source)).out
    (installed / "build" / "cp311").mkdir(parents=True)   # what `pip install /opt/daka/src` leaves
    (installed / "build" / "cp311" / "x.o").write_bytes(b"\0")
    os.utime(installed, (1_000_000_000, 1_000_000_000))
    again = dry_run(root, "--source", str(source))
    assert "the app in /opt/daka/venv is built from this source" in again.out, again.out
    (installed / "app" / "__init__.py").write_text("changed = 1\n")   # a real change still rebuilds
    assert "the last build was of another source or CPU" in dry_run(root, "--source", str(source)).out


def test_a_first_run_setting_the_time_zone_does_not_rebuild_the_app_on_the_second(tmp_path):
    """A first run sets the zone (the time step comes after the app step); the second run printed the
    source's file times in the new zone, saw another build stamp and rebuilt the core and reinstalled
    the models (found by the arm64 run, tests/arm64). The stamp is the files' names and contents."""
    source, root, installed = built_once(tmp_path, tz="UTC0")
    again = dry_run(root, "--source", str(source), tz="CST-8")
    assert "the app in /opt/daka/venv is built from this source" in again.out, again.out
    (installed / "app" / "a name with spaces.py").write_text("x = 2\n")   # same size, another content
    os.utime(installed / "app" / "a name with spaces.py", (1_000_000_000, 1_000_000_000))
    assert "the last build was of another source or CPU" in dry_run(root, "--source", str(source), tz="CST-8").out

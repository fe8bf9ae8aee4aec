"""The product for arm64, for real, under emulation: a debootstrapped Debian 12 arm64 root whose
programs run under qemu-user, the installer run in it as on a Raspberry Pi 5 WITH the native build,
then inside the root: `daka doctor --json`, the C++ core's self-test built twice (NEON and the
scalar kernel) with the two kernels' search results compared, and tests/arm64/probe_child.py (the
gallery against numpy, text, HOG detection, landmarks and descriptors of real photos, the pipeline on
a short clip) compared with the same probe on this machine.

Marked `chroot` (root, qemu-user-static, the Debian mirror, PyPI and npm; tens of minutes): `make
test` runs it through `make test-arm64` when native/, pyproject.toml or the installer differ from
tests/arm64/arm64_root.sha256, the hash of its last passing run.

Cached outside the clone in $DAKA_ARM64_CACHE (default /var/cache/daka-arm64), so a fresh clone on
the same machine reuses it: the debootstrapped base, the root after the installer's packages step
(keyed by the installer's hash), and apt's, pip's and npm's downloads. last-run.txt there holds the
timings of the last run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.debian_roots import REPO, base_tarball, copy_source

pytestmark = pytest.mark.chroot

CACHE = Path(os.environ.get("DAKA_ARM64_CACHE", "/var/cache/daka-arm64"))
BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_RULE = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")   # Debian's qemu-user-static
# A Raspberry Pi 5 (its -mcpu=cortex-a76: qemu's default CPU has every instruction of it).
SETUP_ARGS = ["--board", "raspberrypi", "--swap", "64M", "--rotate", "90"]
# Downloads kept between runs, mounted into the root: apt's .debs, pip's and npm's caches.
DOWNLOADS = {"debs": "var/cache/apt/archives", "pip": "root/.cache/pip", "npm": "root/.npm"}
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
# This machine's own certificate authorities (a TLS-inspecting proxy's, where there is one) and the
# variables that point the tools at the bundle: the root reaches PyPI and npm as this machine does.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
CA_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


class Binfmt:
    """binfmt_misc mounted and qemu-aarch64 registered; what this run set up is undone at the end."""

    def __init__(self) -> None:
        self.mounted = False
        self.registered = False

    def __enter__(self) -> "Binfmt":
        if not QEMU_RULE.is_file():
            pytest.fail("qemu-user-static is not installed (make test installs it)")
        if not (BINFMT / "register").exists():
            subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
            self.mounted = True
        if not (BINFMT / "qemu-aarch64").exists():
            # The F flag: the kernel opens the interpreter now, so it works inside the chroot.
            (BINFMT / "register").write_text(QEMU_RULE.read_text().strip() + "\n")
            self.registered = True
        return self

    def __exit__(self, *exc) -> None:
        if self.registered and (BINFMT / "qemu-aarch64").exists():
            (BINFMT / "qemu-aarch64").write_text("-1")
        if self.mounted:
            subprocess.run(["umount", str(BINFMT)], check=False)


def build_base() -> Path:
    return base_tarball(CACHE, "arm64", timeout=3600)


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def out(self) -> str:
        return self.stdout + self.stderr


class Root:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounts: list[Path] = []
        self.timings: dict[str, float] = {}

    def mount(self, *args: str, at: str) -> None:
        target = self.path / at
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(target)], check=True)
        self.mounts.append(target)

    def unmount_all(self) -> None:
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(target)], check=False)
        self.mounts.clear()

    def run(self, *cmd: str, timeout: float = 600, env: dict | None = None, label: str | None = None) -> Done:
        base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
                **{k: os.environ[k] for k in CA_ENV if k in os.environ}}
        started = time.monotonic()
        # Its own process group: a time-out or an interrupt kills the compilers and pips it started
        # too, not only the chroot process.
        proc = subprocess.Popen(["chroot", str(self.path), *cmd], env={**base, **(env or {})}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        done = Done(proc.returncode, stdout, stderr, time.monotonic() - started)
        if label:
            self.timings[label] = round(done.seconds, 1)
        return done

    def setup(self, *args: str, label: str) -> Done:
        return self.run("bash", "/root/daka-src/scripts/flash_and_setup.sh", *args, timeout=5400, label=label)


def packages_key(scratch: Path) -> str:
    """What the packages step would install on the base (the installer's own dry run against it) and
    the script that installs it: the cached layer is reused while both are the same."""
    scratch.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(scratch), "-xf", str(build_base()), "./etc/os-release", "./usr/lib/os-release",
                    "./var/lib/dpkg"], check=True)
    env = dict(os.environ, DAKA_SETUP_ROOT=str(scratch), DAKA_SETUP_ARCH="aarch64")
    env.pop("DAKA_SETUP_STAGE", None)
    dry = subprocess.run(["bash", str(REPO / "scripts" / "flash_and_setup.sh"), "--dry-run", "--only", "packages",
                          *SETUP_ARGS], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    planned = [line for line in dry.stdout.splitlines() if line.startswith("  [dry-run] ")]
    digest = hashlib.sha256("\n".join([build_base().name, *planned]).encode())
    digest.update((REPO / "scripts" / "install_system_deps.sh").read_bytes())
    shutil.rmtree(scratch)
    return digest.hexdigest()[:16]


def provisioned(root: Root) -> None:
    """The root as the installer's packages step leaves it, from the cache when the installer is the same."""
    layer = CACHE / f"root-packages-{packages_key(root.path.with_name('base-probe'))}.tar"
    if layer.exists():
        subprocess.run(["tar", "-C", str(root.path), "-xf", str(layer)], check=True)
        root.timings["packages step (cached layer)"] = 0.0
        return
    subprocess.run(["tar", "-C", str(root.path), "-xf", str(build_base())], check=True)
    prepare(root)
    try:
        done = root.setup("--only", "packages", *SETUP_ARGS, label="packages step")
        assert done.code == 0, done.out[-5000:]
    finally:
        root.unmount_all()
    for old in CACHE.glob("root-packages-*.tar"):
        old.unlink()
    tmp = layer.with_suffix(".tmp")
    subprocess.run(["tar", "-C", str(root.path), "--exclude=./proc/*", "--exclude=./root/daka-src",
                    "--exclude=./var/cache/apt/archives/*.deb", "-cf", str(tmp), "."], check=True)
    tmp.rename(layer)


def trust_local_cas(root: Root) -> None:
    cas = sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []
    if not cas:
        return
    inside = root.path / LOCAL_CAS.relative_to("/")
    inside.mkdir(parents=True, exist_ok=True)
    for ca in cas:
        shutil.copy(ca, inside / ca.name)
    done = root.run("update-ca-certificates", timeout=900)
    assert done.code == 0, done.out[-3000:]


def prepare(root: Root) -> None:
    shutil.copy("/etc/resolv.conf", root.path / "etc" / "resolv.conf")
    shutil.rmtree(root.path / "root" / "daka-src", ignore_errors=True)
    copy_source(root.path / "root" / "daka-src")
    root.mount("-t", "proc", "proc", at="proc")
    # POSIX semaphores (Python's multiprocessing locks, which loguru takes) live in /dev/shm, a
    # tmpfs on every booted board; a bare chroot has none and `daka` fails for a non-root user.
    root.mount("-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", at="dev/shm")
    for name, inside in DOWNLOADS.items():
        (CACHE / name).mkdir(parents=True, exist_ok=True)
        root.mount("--bind", str(CACHE / name), at=inside)


@pytest.fixture(scope="module")
def arm64(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("chroot") is None or shutil.which("debootstrap") is None:
        pytest.fail("the arm64 run needs root and debootstrap (CI and make test run as root and install it)")
    started = time.monotonic()
    root = Root(tmp_path_factory.mktemp("arm64") / "root")
    root.path.mkdir()
    with Binfmt():
        try:
            provisioned(root)
            prepare(root)
            trust_local_cas(root)
            root.first = root.setup(*SETUP_ARGS, label="installer (full, with the native build)")
            yield root
        finally:
            root.timings["whole run"] = round(time.monotonic() - started, 1)
            lines = [f"arm64 run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (qemu-user, {os.cpu_count()} cores):"]
            lines += [f"  {name}: {seconds:g} s" for name, seconds in root.timings.items()]
            (CACHE / "last-run.txt").write_text("\n".join(lines) + "\n")
            root.unmount_all()
            subprocess.run(["rm", "-rf", "--one-file-system", str(root.path)], check=False)


def test_the_installer_builds_the_native_core_for_the_boards_cpu(arm64):
    assert arm64.first.code == 0, arm64.first.out[-6000:]
    out = arm64.first.out
    assert "board raspberrypi, debian 12 (bookworm), aarch64" in out
    assert "native core compiled for: cortex-a76 (-mcpu=cortex-a76)" in out
    assert "build and install the app (native core for cortex-a76) into /opt/daka/venv" in out
    assert "install and verify the models (daka models install)" in out
    machine = arm64.run("/opt/daka/venv/bin/python", "-c", "import platform, sys; print(platform.machine(), sys.version_info[:2])")
    assert machine.out.strip() == "aarch64 (3, 11)", machine.out
    module = next((arm64.path / "opt/daka/venv/lib/python3.11/site-packages/app/native").glob("_core*.so"))
    assert "aarch64-linux-gnu" in module.name
    assert b"\x7fELF\x02\x01\x01" in module.read_bytes()[:8] and module.read_bytes()[18] == 0xB7  # EM_AARCH64


def json_line(stdout: str) -> dict:
    """The JSON object a command printed (indented or on one line; libraries may print before it)."""
    return json.loads(stdout[stdout.index("\n{") + 1:] if not stdout.startswith("{") else stdout)


@pytest.fixture
def installed(arm64):
    """The root once the installer succeeded (the tests that use it fail at once otherwise)."""
    assert arm64.first.code == 0, "the installer failed: see test_the_installer_builds_the_native_core_for_the_boards_cpu"
    return arm64


def test_doctor_reports_the_neon_build(installed):
    arm64 = installed
    done = arm64.run("/opt/daka/venv/bin/daka", "doctor", "--json", env={"DAKA_INSTANCE": "/tmp/doctor-instance"},
                     timeout=900, label="daka doctor --json")
    report = json_line(done.stdout)
    native = report["native"]
    assert native["ok"] and "neon" in native["simd"] and "avx2" not in native["simd"], native
    assert native["openblas"] and all("aarch64-linux-gnu" in p for p in native["blas_loaded"]), native
    assert "CPUExecutionProvider" in native["onnxruntime_providers"]
    for section in ("models", "font", "database"):
        assert report[section]["ok"], (section, report[section])


def core_selftest(arm64, name: str, *flags: str) -> tuple[Done, list[str]]:
    build = f"/tmp/core-{name}"
    configure = arm64.run("cmake", "-S", "/opt/daka/src/native", "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                          "-DDAKA_BUILD_CORE_TESTS=ON", *flags, timeout=1200)
    assert configure.code == 0, configure.out[-3000:]
    compiled = arm64.run("cmake", "--build", build, "--target", "core_selftest", "-j", "2", timeout=3600,
                         label=f"core self-test build ({name})")
    assert compiled.code == 0, compiled.out[-3000:]
    done = arm64.run(f"{build}/core_selftest", FONT, "--dump-search", f"{build}/search.txt", timeout=1800,
                     label=f"core self-test run ({name})")
    return done, (arm64.path / build.lstrip("/") / "search.txt").read_text().splitlines()


def test_core_selftest_passes_with_the_neon_and_the_scalar_kernel_and_they_agree(installed):
    arm64 = installed
    neon, neon_results = core_selftest(arm64, "neon", "-DDAKA_NATIVE_ARCH=cortex-a76")
    assert neon.code == 0 and "gallery kernel: neon" in neon.out and "core self-test passed" in neon.out, neon.out
    scalar, scalar_results = core_selftest(arm64, "scalar", "-DDAKA_NATIVE_ARCH=cortex-a76", "-DDAKA_GALLERY_SCALAR=ON")
    assert scalar.code == 0 and "gallery kernel: scalar" in scalar.out and "core self-test passed" in scalar.out, scalar.out
    assert len(neon_results) == len(scalar_results) > 200
    for a, b in zip(neon_results, scalar_results):
        *key_a, dist_a = a.split()
        *key_b, dist_b = b.split()
        assert key_a == key_b, (a, b)   # the same ids in the same order
        if math.isinf(float(dist_b)):   # a slot beyond the gallery's size: id -1, distance inf
            assert float(dist_a) == float(dist_b), (a, b)
        else:
            assert abs(float(dist_a) - float(dist_b)) <= 1e-5 * max(1.0, float(dist_b)), (a, b)


@pytest.fixture(scope="module")
def probes(arm64, tmp_path_factory):
    """The probe inside the root (arm64, emulated) and on this machine (x86_64), on the same photos."""
    assert arm64.first.code == 0, "the installer failed"
    from app.devdata import registry_face_images

    photos = registry_face_images()
    inside = arm64.path / "tmp" / "photos"
    inside.mkdir(parents=True, exist_ok=True)
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        shutil.copy(photos[name], inside / name)
    shutil.copy(Path(__file__).with_name("probe_child.py"), arm64.path / "tmp" / "probe_child.py")
    done = arm64.run("/opt/daka/venv/bin/python", "/tmp/probe_child.py", "/tmp/photos", "/tmp/probe-instance",
                     timeout=3600, label="probe: gallery, text, faces, pipeline clip")
    assert done.code == 0, done.out[-5000:]
    here = subprocess.run([sys.executable, str(Path(__file__).with_name("probe_child.py")), str(photos["obama.jpg"].parent),
                           str(tmp_path_factory.mktemp("x86-probe"))], capture_output=True, text=True, timeout=1200)
    assert here.returncode == 0, here.stderr[-5000:]
    arm = json_line(done.stdout)
    for name, seconds in arm["seconds"].items():
        arm64.timings[f"  probe {name}"] = seconds
    arm64.timings["  pipeline, seconds per frame (emulated)"] = round(arm["pipeline"]["ms_per_frame"] / 1000, 2)
    return arm, json_line(here.stdout)


def test_the_gallery_finds_numpys_nearest_row_at_every_size(probes):
    arm, x86 = probes
    assert arm["machine"] == "aarch64" and x86["machine"] == "x86_64"
    assert [g["n"] for g in arm["gallery"]] == [1, 100, 1000, 20005]
    for g, h in zip(arm["gallery"], x86["gallery"]):
        assert g["agree"] == g["queries"], g
        assert g["max_dist_error"] < 1e-4, g
        assert g["top1"] == h["top1"], (g["n"], g["top1"], h["top1"])


def test_text_renders_as_on_x86(probes):
    arm, x86 = probes
    assert arm["font"] == x86["font"] == FONT   # the same font file (fonts-wqy-microhei on both)
    assert len(arm["text"]) == len(x86["text"]) == 6
    for a, b in zip(arm["text"], x86["text"]):
        assert (a["width"], a["height"], a["box"]) == (b["width"], b["height"], b["box"]), (a, b)
        assert a["ink"] > 0 and abs(a["ink"] - b["ink"]) <= 0.01 * b["ink"], (a, b)


def test_detection_landmarks_and_descriptors_of_real_photos_match_x86(probes):
    arm, x86 = probes
    for name, b in x86["faces"].items():
        a = arm["faces"][name]
        assert len(a["boxes"]) == len(b["boxes"]) == 1, (name, a["boxes"], b["boxes"])
        assert np.abs(np.subtract(a["boxes"], b["boxes"])).max() <= 2, (name, a["boxes"], b["boxes"])
        assert abs(a["scores"][0] - b["scores"][0]) <= 0.02, (name, a["scores"], b["scores"])
        assert np.abs(np.subtract(a["landmarks"], b["landmarks"])).max() <= 1.0, name
        for key in ("descriptor", "descriptor_dlib"):
            assert np.linalg.norm(np.subtract(a[key], b[key])) < 1e-3, (name, key)
    same = np.linalg.norm(np.subtract(arm["faces"]["obama.jpg"]["descriptor"], arm["faces"]["obama2.jpg"]["descriptor"]))
    other = np.linalg.norm(np.subtract(arm["faces"]["obama.jpg"]["descriptor"], arm["faces"]["biden.jpg"]["descriptor"]))
    assert same < other


def test_the_pipeline_names_both_people_of_the_clip_as_on_x86(probes):
    arm, x86 = probes
    assert arm["pipeline"]["frames"] == x86["pipeline"]["frames"] > 50
    assert [e["named"] for e in arm["pipeline"]["episodes"]] == [[1], [2]]
    assert [e["named"] for e in x86["pipeline"]["episodes"]] == [[1], [2]]
    for a, b in zip(arm["pipeline"]["first_named"], x86["pipeline"]["first_named"]):
        assert a is not None and abs(a - b) <= 3, (arm["pipeline"]["first_named"], x86["pipeline"]["first_named"])


def test_a_second_run_changes_nothing(installed):
    arm64 = installed
    second = arm64.setup(*SETUP_ARGS, label="installer, second run")
    assert second.code == 0, second.out[-5000:]
    assert "==> done: 0 change(s) made" in second.out, [l for l in second.out.splitlines() if l.startswith("  + ")]

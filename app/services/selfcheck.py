"""Every self-check of a terminal, in one module; each user picks the checks that apply to it.

- `daka doctor` (`doctor_checks`): what is installed, found and configured. It only looks: it
  opens no camera, serial port or GPIO pin, because a running terminal may own them.
- `daka hw test` (`hardware_checks`): opens each configured device, uses it once (30 frames, ten
  distance readings, a beep, a relay click, an LED cycle) and closes it again.
- the on-device 自检 screen (`device_checks`): the parts the running terminal owns (camera and
  sensor as they run, database and journal, disk) and its outputs exercised once.

A check is a `Check`: a name, ok / failed / skipped, one line for people and the facts found
(for JSON). A part that is not configured or absent is skipped, not failed; a configured part
that does not work fails. Each command keeps its own output format (see the `as_*` methods and
the `format_*` functions).
"""

from __future__ import annotations

import glob
import importlib.metadata as md
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select

from app.store.models import AdminUser

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
DISK_LOW_BYTES = 200 << 20   # the on-device check fails below this much free space


@dataclass(frozen=True)
class Check:
    name: str                                   # camera, sensor, database, disk, gpio, buzzer, ...
    result: str                                 # OK, FAILED or SKIPPED
    detail: str = ""                            # one line for people (English; the kiosk translates)
    facts: dict = field(default_factory=dict)   # what was found, for JSON

    @property
    def ok(self) -> bool:
        """Not failed (a skipped part is fine)."""
        return self.result != FAILED

    def as_section(self) -> dict:
        """The doctor's JSON section: ``{"ok": ..., facts...}``."""
        return {"ok": self.ok, **self.facts}

    def as_device(self) -> dict:
        """The hw test's JSON row: ``{"device", facts..., "result", "detail"}``."""
        return {"device": self.name, **self.facts, "result": self.result, "detail": self.detail}


def _section(name: str, body: dict) -> Check:
    """A check from a doctor-style section (``ok`` plus facts, ``error`` when it failed)."""
    facts = {k: v for k, v in body.items() if k != "ok"}
    ok = body.get("ok", True)
    return Check(name, OK if ok else FAILED, str(body.get("error") or body.get("note") or ""), facts)


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


# -- installed and found (the doctor: looks, opens nothing) -------------------------------------------

def python_info() -> Check:
    return _section("python", {
        "version": platform.python_version(),
        "executable": sys.executable,
        "platform": f"{platform.system()} {platform.machine()}",
        # Kivy is reported from its metadata: importing it opens a window provider.
        "kivy": _version("kivy") or _version("Kivy"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
    })


def native_build() -> Check:
    try:
        from app import native
    except ImportError as exc:
        return _section("native", {"ok": False, "error": str(exc),
                                   "todo": "reinstall Daka (pip install . builds the C++ core)"})
    info = dict(native.build_info())
    blas = [os.path.realpath(p) for p in native.loaded_libraries("blas")]
    lapack = [os.path.realpath(p) for p in native.loaded_libraries("lapack")]
    openblas = any("openblas" in p for p in blas)
    info["blas_loaded"] = sorted(set(blas))
    info["lapack_loaded"] = sorted(set(lapack))
    info["openblas"] = openblas
    info["ok"] = True
    # The library paths mean nothing to an installer: the report says what they imply.
    if not info.get("dlib_blas"):
        info["summary"] = f"dlib {info.get('dlib_version', '?')} without BLAS (descriptors run on ONNX Runtime)"
    elif openblas:
        info["summary"] = f"dlib {info.get('dlib_version', '?')} with OpenBLAS"
    else:
        # Reference netlib BLAS makes dlib's descriptor path ~3x slower than no BLAS at all.
        info["summary"] = f"dlib {info.get('dlib_version', '?')} with a slow BLAS (not OpenBLAS)"
        info["warning"] = "dlib calls a BLAS that is not OpenBLAS"
        info["todo"] = ("install libopenblas0-pthread and select it with "
                        "update-alternatives --config libblas.so.3-$(uname -m)-linux-gnu")
    try:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError as exc:
        info["onnxruntime_providers"] = []
        info["ok"] = False
        info["error"] = f"onnxruntime not importable: {exc}"
        info["todo"] = "reinstall Daka's Python packages (pip install .): onnxruntime is one of them"
    return _section("native", info)


def model_files(configured_dir: str | None = None, verify: bool = True) -> Check:
    from app.models import ModelError, resolve

    try:
        models = resolve(configured_dir, verify=verify, require_derived=True)
    except ModelError as exc:
        return _section("models", {"ok": False, "error": str(exc),
                                   "todo": "run `daka models install` (or set [models] dir to the model folder)"})
    return _section("models", {
        "verified": verify,
        "source_dir": str(models.source_dir),
        "derived_dir": str(models.derived_dir),
        "files": {key: str(path) for key, path in models.files.items()},
        "onnx": str(models.onnx) if models.onnx else None,
        "faceres": str(models.faceres) if models.faceres else None,  # needed by [vision] embedder faceres/fused
    })


def cjk_font(configured: str | None = None) -> Check:
    from app.fonts import FontError, find_cjk_font

    try:
        choice = find_cjk_font(configured)
    except FontError as exc:
        return _section("font", {"ok": False, "error": str(exc),
                                 "todo": "install a Chinese font (apt install fonts-wqy-microhei) or set [ui] font"})
    result = {"ok": True, "path": str(choice.path), "face_index": choice.face_index, "origin": choice.origin}
    try:
        from app import native

        width, height, _ = native.TextRenderer(str(choice.path), choice.face_index).measure("打卡", 24)
        result["measured_打卡_24px"] = [int(width), int(height)]
        if width <= 0:
            result.update(ok=False, error=f"font {choice.path} draws nothing for Chinese text")
    except Exception as exc:  # a broken font file is reported, not raised
        result.update(ok=False, error=f"font {choice.path} unusable: {exc}")
    return _section("font", result)


def camera_devices(source: str) -> Check:
    """A camera the terminal can use, looked for without opening it (a running terminal may own it).

    ``none`` (a terminal without a camera, on purpose) is fine; ``auto`` with no camera found, or a
    device or file that is not there, is a failure: the terminal would clock nobody in.
    """
    devices = sorted(glob.glob("/dev/video*"))
    csi = Path("/dev/nvhost-vi").exists() or any(Path(p).exists() for p in glob.glob("/dev/media*"))
    facts: dict = {"configured": source, "v4l2_devices": devices, "csi_possible": csi}
    if source == "none":
        return _section("camera", {**facts, "summary": "camera.source = none: no camera on purpose"})
    missing: str | None = None
    if source == "auto":
        if not devices and not csi:
            missing = "no camera found (no /dev/video*, no CSI camera interface)"
    elif source.startswith(("v4l2://", "file://")):
        path = source.split("://", 1)[1]
        if path and not path.isdigit() and not Path(path).exists():
            missing = f"{path} does not exist"
    if missing:
        return _section("camera", {**facts, "ok": False, "error": missing,
                                   "todo": "connect the camera (USB, or CSI with the board powered off) and "
                                           "check `ls /dev/video*`; or set [camera] source to the right URL, "
                                           "or to none for a terminal without a camera"})
    found = ", ".join(devices) or ("CSI interface" if csi else source)
    return _section("camera", {**facts, "summary": f"{source}: {found}"})


def serial_ports() -> Check:
    try:
        from serial.tools import list_ports

        ports = [p.device for p in list_ports.comports()]
    except ImportError:
        ports = []
    ports += [p for p in glob.glob("/dev/ttyTHS*") if p not in ports]  # Jetson UARTs
    return _section("serial", {"ports": sorted(ports)})


def gpio_chips() -> Check:
    chips = sorted(glob.glob("/dev/gpiochip*"))
    factory = os.environ.get("GPIOZERO_PIN_FACTORY")
    libraries = [m for m in ("lgpio", "RPi.GPIO", "Jetson.GPIO") if _version(m) or _version(m.replace(".", "-"))]
    state = "available" if chips and libraries else "disabled (no GPIO here: relay, buzzer and LEDs are off)"
    return _section("gpio", {"gpiochips": chips, "pin_factory_env": factory, "libraries": libraries, "state": state})


def database_config(url: str, instance_dir: Path) -> Check:
    if url:
        return _section("database", {"url": _redact(url)})
    path = instance_dir / "daka.sqlite3"
    folder_ok = os.access(instance_dir if instance_dir.exists() else instance_dir.parent, os.W_OK)
    result = {"ok": folder_ok, "url": f"sqlite:///{path}", "exists": path.exists()}
    if not folder_ok:
        result["error"] = f"instance folder not writable: {instance_dir}"
    return _section("database", result)


def scheduled_jobs(config) -> Check:
    """The jobs the terminal's one scheduler runs (built by `daka run`, not here)."""
    from app.attendance.scheduler import describe_jobs

    return _section("scheduler", describe_jobs(config))


def _redact(url: str) -> str:
    # postgresql://user:secret@host/db -> postgresql://user:***@host/db
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def set_time_helper(command: str, *, sudo: str = "sudo", user: str | None = None) -> Check:
    """The admin's clock helper (scripts/daka-set-time) and the sudo rule that lets the terminal run it.

    Only looks: ``sudo -n -l HELPER ntp`` asks sudo whether the rule allows the call, it runs nothing
    (for `user`, not the caller, when given: root may ask about the terminal's user).
    """
    facts: dict = {"command": command}
    todo = ("run `sudo scripts/flash_and_setup.sh --only sudoers` (installs the helper and its one "
            "sudo rule), or set [admin] set_time_command")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return _section("set_time", {**facts, "ok": False, "error": f"set_time_command: {exc}", "todo": todo})
    uses_sudo = bool(argv) and os.path.basename(argv[0]) == "sudo"
    helper = next((a for a in argv[1:] if not a.startswith("-")), None) if uses_sudo else (argv[0] if argv else None)
    facts["helper"] = helper
    if not helper:
        return _section("set_time", {**facts, "ok": False, "error": "no helper named", "todo": todo})
    found = shutil.which(helper)
    if found is None:
        return _section("set_time", {**facts, "ok": False, "error": f"{helper} is not installed", "todo": todo})
    if not uses_sudo:
        return _section("set_time", {**facts, "summary": f"{found} (run without sudo)"})
    if shutil.which(sudo) is None:
        return _section("set_time", {**facts, "ok": False, "error": "sudo is not installed",
                                     "todo": "apt install sudo, then " + todo})
    try:
        done = subprocess.run([sudo, "-n", "-l", *(["-U", user] if user else []), helper, "ntp"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _section("set_time", {**facts, "ok": False, "error": f"sudo: {exc}", "todo": todo})
    facts["sudo_rule"] = done.returncode == 0
    if done.returncode != 0:
        return _section("set_time", {**facts, "ok": False,
                                     "error": f"sudo does not allow {user or 'this user'} to run {helper} without a password",
                                     "todo": todo})
    return _section("set_time", {**facts, "summary": f"{helper}, allowed by sudo"})


def admin_account(url: str, instance_dir: Path) -> Check:
    """Whether an administrator can sign in to the admin yet (the database is only read)."""
    first_run = ("open the admin (http://<this terminal's address>:<admin port>/) and create the "
                 "administrator, or run `daka admin create-user NAME --role admin`")
    if not url:
        path = instance_dir / "daka.sqlite3"
        if not path.exists():
            return _section("admin_account", {"ok": False, "admins": 0,
                                              "error": "no database yet, so no administrator",
                                              "todo": "start the terminal (daka run), then " + first_run})
        url = f"sqlite:///{path}"   # it exists: reading it creates nothing
    try:
        engine = create_engine(url)
    except Exception as exc:   # a bad URL is the database check's to report
        return _section("admin_account", {"ok": False, "error": str(exc), "todo": "fix [storage] database_url"})
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("admin_users"):
                admins = 0
            else:
                admins = conn.execute(select(func.count()).select_from(_admin_users())
                                      .where(_admin_users().c.role == "admin", _admin_users().c.active)).scalar_one()
    except Exception as exc:
        return _section("admin_account", {"ok": False, "error": f"database not readable: {exc}",
                                          "todo": "check [storage] database_url and that the database runs"})
    finally:
        engine.dispose()
    if not admins:
        return _section("admin_account", {"ok": False, "admins": 0, "error": "no administrator account",
                                          "todo": first_run})
    return _section("admin_account", {"admins": admins, "summary": f"{admins} active administrator(s)"})


def _admin_users():
    return AdminUser.__table__


def clock_sync(*, timedatectl: str = "timedatectl", chronyc: str = "chronyc") -> Check:
    """Whether the clock follows network time (punches carry its time): timedatectl, else chrony."""
    todo_unknown = ("install and enable a network time client (apt install systemd-timesyncd, or chrony), "
                    "or set the clock by hand in the admin (系统 → 时间) and check it now and then")
    todo_off = ("connect the terminal to a network with an NTP server (timedatectl timesync-status shows "
                "which) or set the clock by hand in the admin (系统 → 时间)")
    values = _run_tool([timedatectl, "show", "-p", "NTP", "-p", "NTPSynchronized"])
    if values is not None:
        pairs = dict(line.split("=", 1) for line in values.splitlines() if "=" in line)
        ntp, synced = pairs.get("NTP"), pairs.get("NTPSynchronized")
        if synced in ("yes", "no"):
            facts = {"tool": "timedatectl", "ntp": ntp == "yes", "synchronized": synced == "yes"}
            if synced == "yes":
                return _section("clock", {**facts, "summary": "synchronised with network time"})
            if ntp != "yes":
                return _section("clock", {**facts, "ok": False, "error": "network time (NTP) is off",
                                          "todo": "turn it on (sudo timedatectl set-ntp true), or keep "
                                                  "setting the clock by hand in the admin"})
            return _section("clock", {**facts, "ok": False, "error": "NTP is on but not synchronised",
                                      "todo": todo_off})
    tracking = _run_tool([chronyc, "-n", "tracking"])
    if tracking is not None:
        leap = next((line.split(":", 1)[1].strip() for line in tracking.splitlines()
                     if line.startswith("Leap status")), "")
        facts = {"tool": "chronyc", "synchronized": leap == "Normal", "leap_status": leap}
        if leap == "Normal":
            return _section("clock", {**facts, "summary": "synchronised with network time (chrony)"})
        return _section("clock", {**facts, "ok": False, "error": f"chrony is not synchronised ({leap or '?'})",
                                  "todo": todo_off})
    return _section("clock", {"ok": False, "tool": None, "synchronized": None,
                              "error": "unknown: neither timedatectl nor chronyc answered", "todo": todo_unknown})


def _run_tool(argv: list[str]) -> str | None:
    """What a system tool printed, or None when it is absent or failed (e.g. no systemd running)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


#: the doctor's sections without which the terminal cannot run (the others are reported, with what to do)
DOCTOR_REQUIRED = ("native", "models", "font", "database", "camera")


def doctor_checks(config, instance_dir: Path, *, verify_models: bool = True) -> list[Check]:
    return [
        python_info(),
        native_build(),
        model_files(config.models.dir or None, verify=verify_models),
        cjk_font(config.ui.font or None),
        camera_devices(config.camera.source),
        serial_ports(),
        gpio_chips(),
        database_config(config.storage.database_url, instance_dir),
        admin_account(config.storage.database_url, instance_dir),
        set_time_helper(config.admin.set_time_command),
        clock_sync(),
        scheduled_jobs(config),
    ]


def doctor_report(checks: list[Check]) -> dict:
    """The doctor's JSON: ``ok`` (every required section ok), then one section per check."""
    sections = {c.name: c.as_section() for c in checks}
    return {"ok": all(sections[k]["ok"] for k in DOCTOR_REQUIRED if k in sections), **sections}


#: facts the JSON keeps for developers but the report for people leaves out: nothing to act on
_QUIET_FACTS = {"blas_loaded", "lapack_loaded", "simd", "openmp_max_threads", "openmp_version", "compiler",
                "dlib_cuda", "dlib_blas", "openblas", "onnxruntime_providers", "files", "executable",
                "source_dir", "derived_dir", "face_index", "origin", "csi_possible", "v4l2_devices",
                "summary", "todo", "error", "warning", "note"}


def format_doctor(report: dict) -> str:
    """The report for people: each check's state, what it found, and what to do when it is not right."""
    lines = [f"Daka doctor: {'OK' if report['ok'] else 'PROBLEMS FOUND'}"]
    required = [k for k in DOCTOR_REQUIRED if isinstance(report.get(k), dict) and not report[k].get("ok")]
    if required:
        lines.append(f"   the terminal cannot run until these are fixed: {', '.join(required)}")
    for section, body in report.items():
        if not isinstance(body, dict):
            if section != "ok":
                lines.append(f"   {section}: {body}")
            continue
        mark = "ok " if body.get("ok") else "!! "
        headline = body.get("error") or body.get("warning") or body.get("summary") or body.get("note") or ""
        lines.append(f"{mark}{section}" + (f": {headline}" if headline else ""))
        for key, value in body.items():
            if key == "ok" or key in _QUIET_FACTS or value in (None, [], {}):
                continue
            lines.append(f"     {key}: {value}")
        if body.get("todo"):
            lines.append(f"     what to do: {body['todo']}")
    if not report["ok"] or any(isinstance(b, dict) and b.get("todo") for b in report.values()):
        lines.append("`daka doctor --json` gives every detail")
    return "\n".join(lines)


# -- devices used once (daka hw test: opens and closes them) ----------------------------------------

def camera_capture(camera_cfg, source: str | None = None, frames: int = 30, timeout_s: float = 15.0,
                   give_up_s: float = 5.0) -> Check:
    from app.hardware.camera import NO_CAMERA, camera_from_config

    camera = camera_from_config(camera_cfg, source)
    facts = {"source": camera.spec.url}
    if camera.spec.scheme == "none":
        return Check("camera", SKIPPED, "camera.source = none", facts)
    got = []
    start = time.monotonic()
    with camera:
        while len(got) < frames and time.monotonic() - start < timeout_s:
            item = camera.slot.get(timeout=0.5)
            if item is not None:
                got.append(item)
            elif camera.status().state == NO_CAMERA and time.monotonic() - start > give_up_s:
                break  # still no camera after the first attempts
        status = camera.status()
    facts.update(used=status.source, frames=len(got), reconnects=status.reconnects)
    if len(got) < frames:
        return Check("camera", FAILED, status.reason or f"only {len(got)} frames in {timeout_s:.0f} s", facts)
    span = got[-1].ts - got[0].ts
    h, w = got[-1].frame.shape[:2]
    # the camera's rate: every frame captured in the span, also those this loop was too slow to take
    fps = (got[-1].seq - got[0].seq) / span if span > 0 else 0.0
    facts.update(width=w, height=h, fps=round(fps, 1))
    return Check("camera", OK, f"{len(got)} frames {w}x{h} at {fps:.1f} fps from {status.source}", facts)


def sensor_readings(sensor_cfg, port: str | None = None, readings: int = 10, timeout_s: float = 5.0) -> Check:
    from app.hardware.tof200f import sensor_from_config

    facts = {"port": port or sensor_cfg.port}
    try:
        sensor = sensor_from_config(sensor_cfg, port)
    except Exception as exc:  # e.g. the simulator cannot open a pty
        return Check("sensor", FAILED, str(exc), facts)
    if sensor is None:
        if not sensor_cfg.enabled and port is None:
            return Check("sensor", SKIPPED, "sensor.enabled = false", facts)
        return Check("sensor", FAILED, "no sensor found on any known port", facts)
    facts["port"] = sensor.port + (" (simulator)" if sensor.simulator else "")
    with sensor:
        deadline = time.monotonic() + timeout_s
        while sensor.status().readings < readings and time.monotonic() < deadline:
            time.sleep(0.02)
        status = sensor.status()
        values = [r.distance_mm for r in list(sensor.history)[:readings]]
        stamps = [r.ts for r in list(sensor.history)[:readings]]
    facts.update(readings=values, errors=status.errors)
    if len(values) < readings:
        return Check("sensor", FAILED, status.reason or f"only {len(values)} readings", facts)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    facts["max_interval_ms"] = round(1000 * max(gaps), 1)
    return Check("sensor", OK, f"{readings} readings (mm, '-' = nothing in range): "
                 + " ".join("-" if v is None else str(v) for v in values)
                 + f"; longest interval {1000 * max(gaps):.0f} ms", facts)


def gpio_outputs(gpio, cfg, *, beep: str = "ok", pulse_ms: int | None = None, led_step_s: float = 0.3,
                 wait: bool = True) -> list[Check]:
    """Beep, click the door relay and cycle the LEDs of `gpio` (a TerminalGpio built from `cfg`), one check each.

    With `wait` each output is waited for before the next (the hw test); without, they overlap
    and the call returns at once (the running terminal's worker must not be held up)."""
    actions = (
        ("buzzer", gpio.beeper, lambda: _beep(gpio, beep, wait), f"beeped on pin {cfg.buzzer_pin}"),
        ("relay", gpio.relay, lambda: _click(gpio, pulse_ms, wait),
         f"clicked pin {cfg.relay_pin} (active {'high' if cfg.relay_active_high else 'low'}) "
         f"for {pulse_ms or cfg.relay_pulse_ms} ms"),
        ("leds", gpio.leds, lambda: gpio.leds.cycle(led_step_s),
         f"cycled green pin {cfg.led_green_pin}, red pin {cfg.led_red_pin}"),
    )
    out = []
    for name, device, action, detail in actions:
        problem = gpio.problems.get(name)
        if device is None:
            out.append(Check(name, FAILED if problem else SKIPPED, problem or "no pin configured"))
            continue
        try:
            action()
            out.append(Check(name, OK, detail))
        except Exception as exc:
            out.append(Check(name, FAILED, str(exc)))
    return out


def _beep(gpio, pattern: str, wait: bool) -> None:
    gpio.beep(pattern)
    if wait:
        gpio.beeper.player.wait(2)


def _click(gpio, pulse_ms: int | None, wait: bool) -> None:
    gpio.open_door(pulse_ms)
    deadline = time.monotonic() + gpio.relay.pulse_s + 2
    while wait and gpio.relay.is_open and time.monotonic() < deadline:
        time.sleep(0.01)


def gpio_exercise(gpio_cfg, pin_factory=None) -> list[Check]:
    """Open the GPIO outputs of `gpio_cfg`, use each once and close them."""
    from app.hardware.gpio import TerminalGpio

    gpio = TerminalGpio(gpio_cfg, pin_factory=pin_factory)
    try:
        if not gpio.enabled:
            return [Check("gpio", SKIPPED, gpio.reason)]
        return gpio_outputs(gpio, gpio_cfg)
    finally:
        gpio.close()


def hardware_checks(config, *, source: str | None = None, sensor_port: str | None = None, gpio_cfg=None,
                    pin_factory=None, frames: int = 30, readings: int = 10) -> list[Check]:
    return [camera_capture(config.camera, source, frames=frames),
            sensor_readings(config.sensor, sensor_port, readings=readings),
            *gpio_exercise(gpio_cfg or config.gpio, pin_factory)]


_NAMES = {"camera": "摄像头 camera", "sensor": "测距 sensor", "buzzer": "蜂鸣器 buzzer",
          "relay": "门锁继电器 relay", "leds": "指示灯 LEDs", "gpio": "GPIO"}
_RESULTS = {OK: "正常 OK", FAILED: "故障 FAILED", SKIPPED: "未启用 skipped"}


def _pad(text: str, width: int) -> str:
    """Pad to ``width`` terminal columns (CJK characters take two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def format_hardware(rows: list[dict]) -> str:
    """The hw test's plain report from its JSON rows (`Check.as_device`)."""
    lines = [f"{_pad(_NAMES.get(r['device'], r['device']), 18)}{_pad(_RESULTS[r['result']], 16)}{r.get('detail', '')}"
             for r in rows]
    failed = sum(r["result"] == FAILED for r in rows)
    lines.append(_pad("", 18) + ("全部正常 all OK" if not failed else f"{failed} 项故障 failed"))
    return "\n".join(lines)


# `daka hw test`'s names (app/cli): one JSON row per device
def check_camera(camera_cfg, source: str | None = None, frames: int = 30, **kwargs) -> dict:
    return camera_capture(camera_cfg, source, frames, **kwargs).as_device()


def check_sensor(sensor_cfg, port: str | None = None, readings: int = 10, **kwargs) -> dict:
    return sensor_readings(sensor_cfg, port, readings, **kwargs).as_device()


def check_gpio(gpio_cfg, pin_factory=None) -> list[dict]:
    return [c.as_device() for c in gpio_exercise(gpio_cfg, pin_factory)]


format_report = format_hardware


# -- the running terminal's parts (the on-device 自检 screen) -----------------------------------------

def camera_running(camera) -> Check:
    cam = camera.status()
    return Check("camera", OK if cam.state == "streaming" else FAILED,
                 f"{cam.state} {cam.fps:.0f} fps {cam.reason}".strip(), {"state": cam.state})


def sensor_running(sensor) -> Check:
    if sensor is None:
        return Check("sensor", SKIPPED, "not configured")
    sen = sensor.status()
    return Check("sensor", OK if sen.state == "ok" else FAILED,
                 f"{sen.state} {sen.distance_mm} mm {sen.reason}".strip(), {"state": sen.state})


def database_running(store, journal) -> Check:
    try:
        with store.session() as s:
            s.execute(select(1)).scalar()
        pending = journal.pending_count()
    except Exception as exc:
        return Check("database", FAILED, str(exc))
    return Check("database", OK, f"journal {pending} pending", {"journal_pending": pending})


def disk_free(root: Path, low_bytes: int = DISK_LOW_BYTES) -> Check:
    try:
        free = shutil.disk_usage(root).free
    except OSError as exc:
        return Check("disk", FAILED, str(exc))
    return Check("disk", OK if free > low_bytes else FAILED, f"{free / 2**30:.1f} GB free", {"free_bytes": free})


def outputs_running(gpio, cfg) -> Check:
    """The running terminal's buzzer, LEDs and door relay, used once (one line on the screen)."""
    if not gpio.enabled:
        return Check("gpio", SKIPPED, gpio.reason)
    outputs = gpio_outputs(gpio, cfg, beep="double", pulse_ms=200, led_step_s=0.2, wait=False)
    failed = [c for c in outputs if not c.ok]
    if failed:
        return Check("gpio", FAILED, "; ".join(f"{c.name}: {c.detail}" for c in failed))
    return Check("gpio", OK, "beep, LEDs, relay pulsed")


def device_checks(terminal) -> list[Check]:
    """The parts a running terminal owns; its outputs are exercised (a beep, the LEDs, the door)."""
    return [camera_running(terminal.camera),
            sensor_running(terminal.sensor),
            database_running(terminal.store, terminal.attendance.journal),
            disk_free(terminal.instance.root),
            outputs_running(terminal.gpio, terminal.config.gpio)]

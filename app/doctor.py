"""`daka doctor`: what is installed, found and working, as one report."""

from __future__ import annotations

import glob
import importlib.metadata as md
import os
import platform
import sys
from pathlib import Path


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_python() -> dict:
    return {
        "ok": True,
        "version": platform.python_version(),
        "executable": sys.executable,
        "platform": f"{platform.system()} {platform.machine()}",
        # Kivy is reported from its metadata: importing it opens a window provider.
        "kivy": _version("kivy") or _version("Kivy"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
    }


def check_native() -> dict:
    try:
        from app import native
    except ImportError as exc:
        return {"ok": False, "error": str(exc)}
    info = dict(native.build_info())
    blas = [os.path.realpath(p) for p in native.loaded_libraries("blas")]
    lapack = [os.path.realpath(p) for p in native.loaded_libraries("lapack")]
    openblas = any("openblas" in p for p in blas)
    info["blas_loaded"] = sorted(set(blas))
    info["lapack_loaded"] = sorted(set(lapack))
    info["openblas"] = openblas
    info["ok"] = True
    if info.get("dlib_blas") and not openblas:
        # Reference netlib BLAS makes dlib's descriptor path ~3x slower than no BLAS at all.
        info["warning"] = (
            "dlib calls a BLAS that is not OpenBLAS: install libopenblas0-pthread and select it "
            "with update-alternatives --config libblas.so.3-$(uname -m)-linux-gnu"
        )
    try:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError as exc:
        info["onnxruntime_providers"] = []
        info["ok"] = False
        info["error"] = f"onnxruntime not importable: {exc}"
    return info


def check_models(configured_dir: str | None = None, verify: bool = True) -> dict:
    from app.models import ModelError, resolve

    try:
        models = resolve(configured_dir, verify=verify, require_derived=True)
    except ModelError as exc:
        return {"ok": False, "error": str(exc)}
    return {
        "ok": True,
        "verified": verify,
        "source_dir": str(models.source_dir),
        "derived_dir": str(models.derived_dir),
        "files": {key: str(path) for key, path in models.files.items()},
        "onnx": str(models.onnx) if models.onnx else None,
        "faceres": str(models.faceres) if models.faceres else None,  # needed by [vision] embedder faceres/fused
    }


def check_font(configured: str | None = None) -> dict:
    from app.fonts import FontError, find_cjk_font

    try:
        choice = find_cjk_font(configured)
    except FontError as exc:
        return {"ok": False, "error": str(exc)}
    result = {"ok": True, "path": str(choice.path), "face_index": choice.face_index, "origin": choice.origin}
    try:
        from app import native

        width, height, _ = native.TextRenderer(str(choice.path), choice.face_index).measure("打卡", 24)
        result["measured_打卡_24px"] = [int(width), int(height)]
        if width <= 0:
            result.update(ok=False, error=f"font {choice.path} draws nothing for Chinese text")
    except Exception as exc:  # a broken font file is reported, not raised
        result.update(ok=False, error=f"font {choice.path} unusable: {exc}")
    return result


def check_camera(source: str) -> dict:
    devices = sorted(glob.glob("/dev/video*"))
    csi = Path("/dev/nvhost-vi").exists() or any(Path(p).exists() for p in glob.glob("/dev/media*"))
    return {
        "ok": True,  # no camera is a supported state (a clear no-camera screen), not a failure
        "configured": source,
        "v4l2_devices": devices,
        "csi_possible": csi,
        "note": None if devices else "no camera found: the terminal will show its no-camera screen",
    }


def check_serial() -> dict:
    try:
        from serial.tools import list_ports

        ports = [p.device for p in list_ports.comports()]
    except ImportError:
        ports = []
    ports += [p for p in glob.glob("/dev/ttyTHS*") if p not in ports]  # Jetson UARTs
    return {"ok": True, "ports": sorted(ports)}


def check_gpio() -> dict:
    chips = sorted(glob.glob("/dev/gpiochip*"))
    factory = os.environ.get("GPIOZERO_PIN_FACTORY")
    libraries = [m for m in ("lgpio", "RPi.GPIO", "Jetson.GPIO") if _version(m) or _version(m.replace(".", "-"))]
    state = "available" if chips and libraries else "disabled (no GPIO here: relay, buzzer and LEDs are off)"
    return {"ok": True, "gpiochips": chips, "pin_factory_env": factory, "libraries": libraries, "state": state}


def check_database(url: str, instance_dir: Path) -> dict:
    if url:
        return {"ok": True, "url": _redact(url)}
    path = instance_dir / "daka.sqlite3"
    folder_ok = os.access(instance_dir if instance_dir.exists() else instance_dir.parent, os.W_OK)
    result = {"ok": folder_ok, "url": f"sqlite:///{path}", "exists": path.exists()}
    if not folder_ok:
        result["error"] = f"instance folder not writable: {instance_dir}"
    return result


def check_scheduler(config) -> dict:
    """The jobs the terminal's one scheduler runs (built by `daka run`, not here)."""
    from app.attendance.scheduler import describe_jobs

    return describe_jobs(config)


def _redact(url: str) -> str:
    # postgresql://user:secret@host/db -> postgresql://user:***@host/db
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def run_doctor(config, instance_dir: Path, *, verify_models: bool = True) -> dict:
    """Every check; `ok` is false when something required (native, models, font, database) fails."""
    report = {
        "python": check_python(),
        "native": check_native(),
        "models": check_models(config.models.dir or None, verify=verify_models),
        "font": check_font(config.ui.font or None),
        "camera": check_camera(config.camera.source),
        "serial": check_serial(),
        "gpio": check_gpio(),
        "database": check_database(config.storage.database_url, instance_dir),
        "scheduler": check_scheduler(config),
    }
    report["ok"] = all(report[k]["ok"] for k in ("native", "models", "font", "database"))
    return {"ok": report.pop("ok"), **report}


def format_report(report: dict) -> str:
    lines = [f"Daka doctor: {'OK' if report['ok'] else 'PROBLEMS FOUND'}"]
    for section, body in report.items():
        if not isinstance(body, dict):
            lines.append(f"   {section}: {body}")
            continue
        mark = "ok " if body.get("ok") else "!! "
        lines.append(f"{mark}{section}")
        for key, value in body.items():
            if key == "ok" or value in (None, [], {}):
                continue
            lines.append(f"     {key}: {value}")
    return "\n".join(lines)

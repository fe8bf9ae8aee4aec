"""The config schema: one frozen dataclass per section, each field a key with its default, doc
and allowed values; :data:`SCHEMA` is the introspectable view of it (:class:`KeySpec`,
:class:`SectionSpec`) that loading, checking, rendering and the run-time settings registry use.
"""

import difflib
import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import tomli_w

#: The config file's name in an instance folder (app.instance builds its path from it).
CONFIG_FILE_NAME = "daka.toml"
ENV_PREFIX = "DAKA_"
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
ROTATIONS = (0, 90, 180, 270)
CAMERA_SCHEMES = ("csi", "v4l2", "file", "rtsp", "rtsps", "http", "https", "gst", "test")
NO_PIN = -1

Check = Callable[[Any], str | None]


class ConfigError(Exception):
    """Invalid configuration. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


# --------------------------------------------------------------------------
# Schema building blocks
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    check: Check | None = None
    allowed: str | None = None  # human text for custom checks
    normalize: Callable[[Any], Any] | None = None
    hex: bool = False


def setting(
    default: Any,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    check: Check | None = None,
    allowed: str | None = None,
    normalize: Callable[[Any], Any] | None = None,
    hex: bool = False,
) -> Any:
    """Declare one config key (a dataclass field with schema metadata)."""
    meta = _Meta(doc, min, max, choices, check, allowed, normalize, hex)
    return field(default=default, metadata={"daka": meta})


def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"daka_section": True})


# --------------------------------------------------------------------------
# Custom checks (return an error text or None)
# --------------------------------------------------------------------------


def _check_name(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if len(value) > 64:
        return f"is {len(value)} characters long, at most 64 allowed"
    if any(ord(c) < 32 for c in value):
        return "must not contain control characters"
    return None


_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_device_id(value: str) -> str | None:
    if value and not _ID_RE.fullmatch(value):
        return f"{_show(value)} is not a valid id"
    return None


def _check_timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
        return None
    except (ValueError, KeyError, OSError):
        pass
    known = zoneinfo.available_timezones()
    if not known:  # no time zone database at all: cannot judge
        return None
    return f"unknown time zone {_show(value)}{_suggest(value, sorted(known))}"


def _check_camera_source(value: str) -> str | None:
    if value in ("auto", "none"):
        return None
    if "://" not in value:
        hint = f" (did you mean \"v4l2://{value}\"?)" if value.startswith("/dev/") else ""
        return f"{_show(value)} is not auto, none or a camera URL{hint}"
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in CAMERA_SCHEMES:
        return f"unknown camera scheme {scheme!r}{_suggest(scheme, CAMERA_SCHEMES)}"
    if scheme == "csi" and not parts.netloc.isdigit():
        return f"{_show(value)}: the CSI sensor number is missing (e.g. csi://0)"
    if scheme == "v4l2" and not (parts.path or parts.netloc.isdigit()):
        return f"{_show(value)}: the device is missing (e.g. v4l2:///dev/video0)"
    if scheme == "file" and not (parts.path or parts.netloc):
        return f"{_show(value)}: the file path is missing (e.g. file:///path/clip.mp4)"
    if scheme in ("rtsp", "rtsps", "http", "https") and not parts.netloc:
        return f"{_show(value)}: the host is missing"
    if scheme == "gst" and not value.split("://", 1)[1].strip():
        return f"{_show(value)}: the GStreamer pipeline is missing"
    for name, number in parse_qsl(parts.query):
        if name in ("width", "height", "fps") and not number.isdigit():
            return f"{_show(value)}: {name}={number!r} is not a whole number"
    # The camera's own parser has the last word (unknown parameters, flip range ...).
    from app.hardware.camera_url import CameraUrlError, parse_camera_source

    try:
        parse_camera_source(value)
    except CameraUrlError as exc:
        return str(exc)
    return None


def _check_serial_port(value: str) -> str | None:
    if value == "auto" or value.startswith("/") or "://" in value:
        return None
    if re.fullmatch(r"COM\d+", value):
        return None
    return f"{_show(value)} is not auto, a device path (/dev/ttyTHS1) or a port URL"


_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")


def _check_host(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if len(value) <= 253 and _HOST_RE.fullmatch(value):
        return None
    return f"{_show(value)} is not an IP address or host name"


def _check_public_url(value: str) -> str | None:
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port   # raises for a port that is not a number in range
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username
            or parts.password or parts.query or parts.fragment):
        return f"{_show(value)} is not an http(s) address such as https://hr.example.com"
    return None


def _check_database_url(value: str) -> str | None:
    if value and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value):
        return "is not a database URL"
    return None


def _check_hhmm(value: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return f"{_show(value)} is not a time of day HH:MM"
    return None


def _check_webhook_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{_show(value)} is not an http:// or https:// URL"
    return None


ADMS_TABLES = ("ATTLOG", "OPERLOG")
ADMS_COMMANDS = ("USERINFO", "BIOPHOTO", "QUERY", "CHECK", "INFO", "LOG", "OPTION", "REBOOT", "CLEAR")
_ADMS_SERIAL_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _check_adms_serial(value: str) -> str | None:
    if value and not _ADMS_SERIAL_RE.fullmatch(value):
        return f"{_show(value)} is not a serial number (1-32 letters, digits, '-' or '_')"
    return None


def _check_subset(value: str, allowed: tuple[str, ...]) -> str | None:
    unknown = [p for p in (v.strip().upper() for v in value.split(",")) if p and p not in allowed]
    return f"unknown {', '.join(unknown)}" if unknown else None


def _check_adms_tables(value: str) -> str | None:
    return _check_subset(value, ADMS_TABLES)


def _check_adms_commands(value: str) -> str | None:
    return _check_subset(value, ADMS_COMMANDS)


def _normalize_database_url(value: str) -> str:
    # Heroku-style "postgres://" is rejected by SQLAlchemy; use the full name.
    if value.startswith("postgres://"):
        return "postgresql://" + value[len("postgres://") :]
    return value


# --------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceConfig:
    """Identity and locale of this terminal."""

    name: str = setting(
        "Daka-01",
        "Name shown on screen and in reports.",
        check=_check_name,
        allowed="text, 1-64 characters",
    )
    id: str = setting(
        "",
        "Stable device id used in records; empty = derived from the host name.",
        check=_check_device_id,
        allowed="empty, or letters, digits, '.', '_', '-' (max 64)",
    )
    timezone: str = setting(
        "Asia/Shanghai",
        "Time zone for clock-in times and schedules.",
        check=_check_timezone,
        allowed="IANA time zone name, e.g. Asia/Shanghai",
    )
    language: str = setting("zh_CN", "User interface language.", choices=("zh_CN", "en"))


@dataclass(frozen=True)
class CameraConfig:
    """Video source and capture format."""

    source: str = setting(
        "auto",
        "Video source: auto = first camera found, none = no camera, or a URL such as "
        "csi://0, v4l2:///dev/video0, rtsp://host/stream.",
        check=_check_camera_source,
        allowed="auto, none, or a URL " + ", ".join(f"{s}://..." for s in CAMERA_SCHEMES),
    )
    width: int = setting(1280, "Capture width in pixels.", min=160, max=4096)
    height: int = setting(720, "Capture height in pixels.", min=120, max=4096)
    fps: int = setting(30, "Capture frame rate.", min=1, max=120)
    rotate: int = setting(0, "Rotate frames clockwise by this many degrees.", choices=ROTATIONS)
    flip: bool = setting(False, "Mirror frames horizontally.")


@dataclass(frozen=True)
class VisionConfig:
    """Face detection and descriptor computation."""

    detect_downscale: float = setting(
        0.0,
        "Scale frames by this factor before face detection; 0 = auto (a min_face_px face "
        "just fits the detector's 80 px window).",
        min=0.0,
        max=1.0,
    )
    detect_threads: int = setting(
        2, "Threads for one face detection (2 splits the image pyramid).", min=1, max=2
    )
    detect_upsample: int = setting(
        0, "Detector upsampling passes (finds smaller faces, much slower).", min=0, max=2
    )
    min_face_px: int = setting(
        100, "Ignore faces narrower than this (pixels, full-size frame).", min=40, max=1000
    )
    detect_every_n_frames: int = setting(
        10,
        "Run the detector on every n-th frame; track in between (and, with nobody in view, "
        "on every frame in which something moved).",
        min=1,
        max=60,
    )
    idle_motion_level: int = setting(
        12,
        "With nobody in view, search a frame only if a cell of its 64x36 thumbnail changed by "
        "more than this many grey levels since the previous frame (else every n-th frame); "
        "0 = search every frame.",
        min=0,
        max=255,
    )
    full_detect_every_n_passes: int = setting(
        10,
        "Detection passes search only where the picture changed and around tracked faces; "
        "every n-th pass searches the whole frame (a safety net: a face cannot appear where "
        "nothing changed).",
        min=1,
        max=100,
    )
    recognize_stale_frames: int = setting(
        40, "Re-run recognition on a tracked face after this many frames.", min=1, max=1000
    )
    descriptor_threads: int = setting(
        1, "Threads used to compute face descriptors.", min=1, max=16
    )
    descriptor_backend: str = setting(
        "onnx", "Face descriptor implementation.", choices=("onnx", "dlib")
    )
    flip_augment: bool = setting(
        True,
        "Describe each face chip and its mirror image and average the two (better accuracy, "
        "twice the descriptor time).",
    )
    embedder: str = setting(
        "fused",
        "Face embedder: dlib (dlib's ResNet), faceres (HSE MobileNet from the npm registry) or "
        "fused (both; the similarity is their weighted mean; see ACCURACY.md).",
        choices=("dlib", "faceres", "fused"),
    )
    onnx_providers: str = setting(
        "cpu",
        "ONNX Runtime devices for both embedders: cpu, or auto = TensorRT, then CUDA, then the CPU "
        "(with NVIDIA's onnxruntime-gpu wheel on a Jetson).",
        choices=("cpu", "auto"),
    )
    fusion_dlib_weight: float = setting(
        0.85,
        "Weight of dlib's similarity in the fused similarity (faceres gets the rest); chosen by "
        "`daka eval lfw` on half the people (dlib's cosines spread over a narrower range).",
        min=0.05, max=0.95,
    )
    faceres_padding: float = setting(
        0.4, "Margin around the aligned face in faceres' 224 px chip, as a fraction of the face.",
        min=0.0, max=1.0,
    )
    better_view_factor: float = setting(
        1.3,
        "Recognise a tracked face again when a view's quality score beats its best recognised "
        "view by this factor.",
        min=1.0,
        max=10.0,
    )
    track_min_iou: float = setting(
        0.3, "Minimum box overlap (IoU) for a detection to continue a track.", min=0.05, max=0.95
    )
    track_max_missed: int = setting(
        1,
        "A track expires when more than this many detection passes in a row miss it; while "
        "missed it keeps its id but reports no identity.",
        min=0,
        max=30,
    )


@dataclass(frozen=True)
class RecognitionConfig:
    """Matching a face against enrolled people."""

    threshold: float = setting(
        0.948,
        "Minimum cosine similarity between descriptors to accept a match (calibrated with "
        "`daka eval lfw`: false-positive identification rate 1% over a 774-person gallery).",
        min=0.0,
        max=1.0,
    )
    margin: float = setting(
        0.01,
        "Best match must beat the next person's similarity by at least this much.",
        min=0.0,
        max=1.0,
    )
    min_observations: int = setting(
        2, "Consecutive agreeing observations needed before clocking in.", min=1, max=20
    )
    faceres_threshold: float = setting(
        0.688,
        "threshold when [vision] embedder = faceres (FPIR 1% of `daka eval lfw`, as for dlib).",
        min=-1.0, max=1.0,
    )
    faceres_margin: float = setting(
        0.01, "margin when [vision] embedder = faceres.", min=0.0, max=1.0
    )
    fused_threshold: float = setting(
        0.9,
        "threshold when [vision] embedder = fused: on the fused similarity, the weighted mean of "
        "both models' cosines (FPIR 1% of `daka eval lfw`).",
        min=-1.0, max=1.0,
    )
    fused_margin: float = setting(
        0.0,
        "margin when [vision] embedder = fused (0: on half the people the margin rule did not "
        "help the fusion, see ACCURACY.md).",
        min=0.0, max=1.0,
    )
    # issue 21: the decision is set by its false-accept rate; the raw thresholds become the expert way
    false_accept: float = setting(
        0.01,
        "How often a person who is not enrolled may be taken for someone who is (false-positive "
        "identification rate): 0.01 (1%) or 0.001 (0.1%, a strict door). The threshold follows the "
        "enrolled faces (how many, and how alike: each enrolled photo is compared with the other "
        "people) so that the rate holds (calibrated with `daka eval lfw`).",
        choices=(0.01, 0.001),
    )
    decide_by_threshold: bool = setting(
        False,
        "Expert: decide by the raw threshold and margin of the embedder in use instead of by "
        "false_accept (their false-accept rate grows with the number of enrolled people).",
    )


@dataclass(frozen=True)
class LivenessConfig:
    """Anti-spoofing: refuse photos and screens held up to the camera (see ACCURACY.md)."""

    level: str = setting(
        "normal",
        "off = no check; normal = refuse faces whose size does not fit the TOF distance (with "
        "[sensor] enabled, a face without a reading is not confirmed) and require a head's depth "
        "(parallax_cue): a face that shows none is asked to turn the head (请缓慢转头), then "
        "refused; strict = also a narrower size range, more depth evidence and a reading "
        "required. Measured error rates per level: ACCURACY.md (daka eval liveness).",
        choices=("off", "normal", "strict"),
    )
    focal_px: float = setting(
        0.0,
        "Camera focal length in pixels for 640-pixel-wide frames, calibrated on this device; "
        "0 = from the IMX219 module's 77-degree diagonal field of view (503 px).",
        min=0.0,
        max=10000.0,
    )
    texture_cue: bool = setting(
        True,
        "normal and strict: also refuse a face showing a periodic pattern (a screen's moire, a "
        "print's halftone) in the camera image.",
    )
    parallax_cue: bool = setting(
        True,
        "normal and strict: a face is live only once it showed a head's depth (the nose moving "
        "off the plane of the rest of the face between frames; a picture of any size cannot); "
        "false = the size (and texture) alone decide at normal, as before (life-size prints pass).",
    )
    context_cue: bool = setting(
        False,
        "normal and strict: also refuse a face whose surrounding straight edges (a sheet's or a "
        "screen's border) move with it; waits up to 8 frames for the evidence. Experimental: it "
        "refused a real performer in the test video (ACCURACY.md).",
    )


@dataclass(frozen=True)
class SensorConfig:
    """Presence/distance sensor on a serial port (Modbus)."""

    enabled: bool = setting(False, "Use the distance sensor to wake recognition.")
    port: str = setting(
        "auto",
        "Serial port of the sensor, e.g. /dev/ttyTHS1; auto = probe known ports; "
        "sim:// = the built-in simulator.",
        check=_check_serial_port,
        allowed="auto, a device path, COMn, or a pyserial URL",
    )
    baud: int = setting(115200, "Serial baud rate.", min=9600, max=921600)
    slave_id: int = setting(0x50, "Modbus slave address of the sensor.", min=0, max=247, hex=True)
    near_mm: int = setting(
        800, "A person closer than this (mm) is approaching.", min=100, max=3000
    )
    far_mm: int = setting(
        1200, "A person farther than this (mm) has left; must exceed near_mm.", min=100, max=5000
    )
    poll_hz: int = setting(20, "Distance readings per second.", min=10, max=50)


_PIN = {"min": NO_PIN, "max": 63}


@dataclass(frozen=True)
class GpioConfig:
    """Door relay, buzzer, LEDs and exit button. Pin -1 = not connected."""

    enabled: bool = setting(True, "Drive GPIO outputs and read inputs.")
    pin_factory: str = setting(
        "auto",
        "GPIO backend; mock = simulate (for tests and PCs).",
        choices=("auto", "mock", "lgpio", "rpigpio", "native"),
    )
    relay_pin: int = setting(NO_PIN, "Door relay output pin (-1 = none).", **_PIN)
    relay_active_high: bool = setting(True, "Relay energises when the pin is high.")
    relay_mode: str = setting(
        "pulse", "Door relay: pulse = open on each clock-in, off = never open.",
        choices=("pulse", "off"),
    )
    relay_pulse_ms: int = setting(
        1000, "How long the relay stays on to open the door (ms).", min=50, max=10000
    )
    buzzer_pin: int = setting(NO_PIN, "Buzzer output pin (-1 = none).", **_PIN)
    led_green_pin: int = setting(NO_PIN, "Green LED pin, lit on success (-1 = none).", **_PIN)
    led_red_pin: int = setting(NO_PIN, "Red LED pin, lit on failure (-1 = none).", **_PIN)
    exit_button_pin: int = setting(
        NO_PIN, "Exit button input pin, opens the door (-1 = none).", **_PIN
    )


@dataclass(frozen=True)
class AdminConfig:
    """Built-in web administration interface."""

    host: str = setting(
        "0.0.0.0",
        "Address to listen on; 127.0.0.1 = this device only.",
        check=_check_host,
        allowed="IP address or host name",
    )
    port: int = setting(8080, "TCP port to listen on.", min=1, max=65535)
    session_timeout_min: int = setting(
        30, "Log administrators out after this many idle minutes.", min=1, max=1440
    )
    cookie_secure: bool = setting(
        False, "Send the session cookie over HTTPS only (turn on behind a TLS proxy)."
    )
    max_upload_mb: int = setting(
        100, "Largest request body accepted (photo uploads, zip archives, restores) (MB).",
        min=1, max=2048,
    )
    login_attempts: int = setting(
        5, "Sign-in attempts of one user name from one address before each further one waits "
        "(2 s, doubling); twice as many per address across names in 5 minutes.",
        min=1, max=100,
    )
    lockout_minutes: int = setting(
        15, "The longest wait between sign-in attempts of one user name from one address (minutes).",
        min=1, max=1440
    )
    threads: int = setting(8, "Worker threads of the admin's web server.", min=2, max=64)
    public_url: str = setting(
        "",
        "The admin's address as staff phones reach it (the self-service QR code and links): "
        "e.g. https://hr.example.com behind a proxy, or a fleet's central admin; empty = this "
        "device's LAN address and port.",
        check=_check_public_url,
        allowed="empty or http(s)://host[:port][/path]",
        normalize=lambda v: v.strip().rstrip("/"),
    )
    set_time_command: str = setting(
        "sudo -n /usr/local/sbin/daka-set-time",
        "Command that sets the system clock, called with DATE and TIME (see docs/admin.md).",
    )


@dataclass(frozen=True)
class StorageConfig:
    """Database and stored images."""

    database_url: str = setting(
        "",
        "SQLAlchemy database URL; empty = daka.sqlite3 in the instance folder.",
        check=_check_database_url,
        allowed="empty or a URL such as postgresql://user@host/db",
        normalize=_normalize_database_url,
    )
    photo_max_mb: int = setting(5, "Largest accepted enrolment photo upload (MB).", min=1, max=50)
    retention_days: int = setting(
        400, "Delete punches and their snapshots older than this many days; 0 = keep forever.",
        min=0, max=3650,
    )
    retention_time: str = setting(
        "03:30",
        "Local time of day when the retention job runs (HH:MM).",
        check=_check_hhmm,
        allowed="HH:MM, 24-hour clock",
    )


@dataclass(frozen=True)
class AttendanceConfig:
    """Clock-in journal, batched flush into the database, repeated punches."""

    flush_seconds: int = setting(
        5, "Flush journaled punches into the database at least this often (seconds).",
        min=1, max=600,
    )
    flush_batch: int = setting(
        20, "Flush at once when this many punches are waiting.", min=1, max=10000
    )
    dedupe_seconds: int = setting(
        60, "A second clock-in by the same person within this many seconds is not recorded.",
        min=0, max=86400,
    )
    confirm_seconds: int = setting(
        8, "How long the confirm card waits for a tap before it goes away (seconds).",
        min=2, max=120,
    )


@dataclass(frozen=True)
class PushConfig:
    """Delivery of punches to an HR system's webhook (signed JSON POST)."""

    webhook_url: str = setting(
        "", "URL that receives punches; empty = no push.",
        check=_check_webhook_url, allowed="empty or an http(s):// URL",
    )
    secret: str = setting("", "Shared secret for the X-Daka-Signature HMAC-SHA256 header.")
    batch: int = setting(50, "Punches per request at most.", min=1, max=1000)
    timeout_seconds: float = setting(5.0, "Request timeout (seconds).", min=0.1, max=120.0)
    backoff_base_seconds: float = setting(
        2.0, "First retry delay after a failed delivery; doubles on each failure.",
        min=0.01, max=3600.0,
    )
    backoff_max_seconds: float = setting(
        300.0, "Longest delay between retries (seconds).", min=0.01, max=86400.0
    )
    poll_seconds: float = setting(
        1.0, "How often the delivery job looks for waiting punches (seconds).",
        min=0.1, max=600.0,
    )
    # -- ZKTeco PUSH (ADMS), issue 18: app/zk/adms, docs/hr-integration.md ---------------------
    adms_url: str = setting(
        "", "ADMS server (ZKBioTime/BioTime, WDMS, any ZKTeco PUSH server): its base URL, e.g. "
        "http://10.0.0.5:8081; Daka calls <url>/iclock/cdata, getrequest and devicecmd. Empty = off.",
        check=_check_webhook_url, allowed="empty or an http(s):// URL",
    )
    adms_serial: str = setting(
        "", "Serial number (SN) Daka gives the ADMS server; empty = derived from the machine id "
        "(DAKA + 12 hex digits, shown on the admin's system page).",
        check=_check_adms_serial, allowed="empty, or 1-32 letters, digits, '-' or '_'",
    )
    adms_tables: str = setting(
        "ATTLOG,OPERLOG", "Tables pushed to the ADMS server, comma separated: ATTLOG (punches), "
        "OPERLOG (staff added or changed, admin actions); the server's TransFlag may narrow them.",
        check=_check_adms_tables, allowed="a comma-separated subset of ATTLOG, OPERLOG",
    )
    adms_commands: str = setting(
        "USERINFO,BIOPHOTO,QUERY,CHECK,INFO,LOG,OPTION,REBOOT",
        "Server commands Daka carries out, comma separated, from USERINFO (add, change, delete "
        "staff), BIOPHOTO (enrol a photo), QUERY, CHECK, INFO, LOG, OPTION (SET OPTION of safe "
        "keys), REBOOT (restart the service), CLEAR (CLEAR LOG: delete every punch). Others are "
        "answered as refused.",
        check=_check_adms_commands, allowed="a comma-separated subset of " + ", ".join(ADMS_COMMANDS),
    )
    adms_encoding: str = setting(
        "gb18030", "Text encoding of the bodies sent to the ADMS server: gb18030, as ZKTeco's "
        "Chinese-market terminals send names (servers read it as GBK/GB2312), or utf-8.",
        choices=("gb18030", "utf-8"),
    )
    adms_timeout_seconds: float = setting(
        10.0, "ADMS request timeout (seconds).", min=0.5, max=120.0
    )
    adms_retry_seconds: float = setting(
        10.0, "Wait before trying an unreachable ADMS server again, until its handshake gives "
        "ErrorDelay (seconds).", min=0.1, max=3600.0,
    )


@dataclass(frozen=True)
class LibraryConfig:
    """Face library enrolment."""

    min_face_px: int = setting(
        80, "Refuse enrolment photos whose face is narrower than this (pixels).", min=40, max=1000
    )
    duplicate_similarity: float = setting(
        0.93,
        "A new photo this similar (cosine) to another staff member's face is refused as a "
        "duplicate.",
        min=0.0, max=1.0,
    )
    fused_duplicate_similarity: float = setting(
        0.874,
        "duplicate_similarity when [vision] embedder = fused (flags the same share of strangers "
        "on `daka eval lfw` as 0.93 does for dlib).",
        min=0.0, max=1.0,
    )
    faceres_duplicate_similarity: float = setting(
        0.61, "duplicate_similarity when [vision] embedder = faceres (same calibration).", min=0.0, max=1.0,
    )
    max_zip_files: int = setting(5000, "Most photos accepted from one zip archive.", min=1, max=100000)


@dataclass(frozen=True)
class ModelsConfig:
    """Neural network model files."""

    dir: str = setting("", "Folder with model files; empty = the bundled models.")
    verify: bool = setting(True, "Check model file checksums at start.")


@dataclass(frozen=True)
class UiConfig:
    """On-device screen."""

    fullscreen: bool = setting(True, "Run the terminal screen full screen.")
    rotation: int = setting(0, "Rotate the screen clockwise (degrees).", choices=ROTATIONS)
    font: str = setting("", "Font file for the screen; empty = bundled CJK font.")
    sound: bool = setting(True, "Beep on clock-in results (the buzzer); the on-device admin can switch it.")
    result_seconds: int = setting(4, "A clock-in result stays on screen this long (seconds).", min=1, max=30)
    idle_seconds: int = setting(
        30, "Show the idle clock when nobody has been near (sensor) or in view this long (seconds).", min=5, max=3600
    )
    once_per_visit: bool = setting(
        True, "Offer a person the clock-in card once per visit: after clocking in (or 'not me') they are "
        "asked again only once they have left and come back. Off: a person who stays in view is asked "
        "again when [attendance] dedupe_seconds have passed."
    )
    auto_punch: bool = setting(
        False, "Clock a recognised, live person in without a tap (doors where staff carry things): the card "
        "shows and the punch is made once the same face has matched for 0.5 s at the recognition threshold "
        "plus auto_punch_stricter. Off by default: staff confirm their own clock-in."
    )
    auto_punch_stricter: float = setting(
        0.02, "With auto_punch: how much higher than the recognition threshold of the embedder in use a "
        "match must be to clock in without a tap (weaker matches wait for a tap).", min=0.0, max=0.5
    )
    admin_pin: str = setting(
        "", "PIN that opens the on-device admin screens after a long press on the status bar; "
        "empty = no on-device admin.", check=lambda v: None if v == "" or (v.isdigit() and 4 <= len(v) <= 8)
        else "must be empty or 4 to 8 digits", allowed="empty, or 4 to 8 digits",
    )


@dataclass(frozen=True)
class LogConfig:
    """Logging to the console and to logs/daka.log in the instance folder."""

    level: str = setting(
        "INFO", "Lowest level that is logged.", choices=LOG_LEVELS, normalize=str.upper
    )
    file_max_mb: int = setting(5, "Rotate the log file when it reaches this size (MB).", min=1, max=100)
    file_count: int = setting(
        3, "Log files kept, including the current one (caps disk use).", min=1, max=20
    )
    console: bool = setting(True, "Also log to the console (stderr).")


# -- issue 19: ZKTeco's pull protocol (TCP/UDP 4370), served by the terminal ----------------------
@dataclass(frozen=True)
class ZkPullConfig:
    """ZKTeco "pull" protocol on TCP/UDP 4370 for HR software made for ZKTeco terminals (docs/hr-integration.md)."""

    enabled: bool = setting(False, "Serve ZKTeco's pull protocol (pyzk, node-zklib, zkemkeeper-based programs).")
    port: int = setting(4370, "Port of the pull protocol (TCP and UDP).", min=1, max=65535)
    host: str = setting(
        "0.0.0.0", "Address the pull protocol listens on; 127.0.0.1 = this device only.",
        check=_check_host, allowed="IP address or host name",
    )
    comm_key: int = setting(
        0, "Comm key clients must prove with CMD_AUTH; 0 = none (node-zklib and zkteco-js "
        "cannot authenticate: they work only with 0).", min=0, max=999999,
    )
    tcp: bool = setting(True, "Serve the pull protocol over TCP.")
    udp: bool = setting(True, "Serve the pull protocol over UDP.")
    allow_writes: bool = setting(
        False, "Let clients add, rename and delete users (set_user, delete_user); every write is audited. "
        "Clearing the attendance log is never allowed.",
    )
    allow_set_time: bool = setting(
        False, "Let clients set the terminal's clock (set_time) through the admin's audited set-time command.",
    )
    max_connections: int = setting(16, "Pull-protocol TCP connections served at once.", min=1, max=256)
    per_address: int = setting(4, "Pull-protocol connections from one client address at once.", min=1, max=64)
    idle_seconds: int = setting(60, "Close a pull-protocol client silent this long (seconds).", min=5, max=3600)


# issue 24: attendance reports
@dataclass(frozen=True)
class ReportsConfig:
    """Attendance reports (the monthly report and grid, their Excel exports)."""

    company: str = setting(
        "", "Company name in the title of printed reports; empty = the device name.",
        check=lambda v: None if len(v) <= 64 else f"is {len(v)} characters long, at most 64 allowed",
        allowed="at most 64 characters",
    )


# issue 25: stranger and spoof records
@dataclass(frozen=True)
class RecordsConfig:
    """Stranger and spoof records: unrecognised faces and liveness refusals kept with a snapshot."""

    face_events: bool = setting(
        True, "Keep each unrecognised face and each liveness refusal (one per person in front of the "
        "camera) with a snapshot of the face for the admin's records page; false keeps none (privacy).",
    )
    face_event_days: int = setting(
        30, "Delete stranger and spoof records (and their snapshots) older than this many days; 0 keeps them.",
        min=0, max=3650,
    )
    face_event_gap_seconds: int = setting(
        10, "At most one record of a kind while faces stay in view: a new one only after no face was seen "
        "for this many seconds (a person the tracker loses and finds again writes one record).", min=0, max=3600,
    )


# issue 20: a fleet terminal (many terminals, one central PostgreSQL; docs/fleet.md)
def _check_fleet_url(value: str) -> str | None:
    if value and not re.match(r"postgres(ql)?(\+psycopg)?://", value):
        return f"{_show(value)} is not a postgresql:// URL"
    return None


@dataclass(frozen=True)
class FleetConfig:
    """A fleet terminal: the central PostgreSQL it mirrors the library from and uploads punches to (docs/fleet.md)."""

    database_url: str = setting(
        "", "The central database as this terminal's own role (`daka fleet add-terminal` prints it), a libpq URL "
        "such as postgresql://daka_t_gate1:PW@central:5432/daka?sslmode=verify-full; several hosts "
        "(host=a,b or a:5432,b:5432 with target_session_attrs=read-write) ride through a failover. "
        "Empty = a standalone terminal.", check=_check_fleet_url, allowed="a postgresql:// URL or empty",
    )
    poll_s: float = setting(
        5.0, "Seconds between looks for library changes when no notification came (catch-up after a gap).",
        min=0.5, max=3600,
    )
    heartbeat_s: float = setting(10.0, "Seconds between heartbeats to the centre's devices page.", min=1, max=3600)
    silent_after_min: int = setting(
        5, "The central devices page flags a terminal silent for more than this many minutes.", min=1, max=10080,
    )
    name: str = setting(
        "", "Display name of this terminal in the fleet; empty = the name given at `daka fleet add-terminal`.",
        check=lambda v: None if len(v) <= 64 else f"is {len(v)} characters long, at most 64 allowed",
        allowed="at most 64 characters",
    )
    retry_max_s: float = setting(
        30.0, "The longest wait between two attempts to reach an unreachable centre (the wait doubles from 1 s).",
        min=1, max=3600,
    )


@dataclass(frozen=True)
class Config:
    """The validated, read-only configuration (``cfg.admin.port`` ...)."""

    device: DeviceConfig = _section(DeviceConfig)
    camera: CameraConfig = _section(CameraConfig)
    vision: VisionConfig = _section(VisionConfig)
    recognition: RecognitionConfig = _section(RecognitionConfig)
    liveness: LivenessConfig = _section(LivenessConfig)
    sensor: SensorConfig = _section(SensorConfig)
    gpio: GpioConfig = _section(GpioConfig)
    admin: AdminConfig = _section(AdminConfig)
    storage: StorageConfig = _section(StorageConfig)
    attendance: AttendanceConfig = _section(AttendanceConfig)
    push: PushConfig = _section(PushConfig)
    library: LibraryConfig = _section(LibraryConfig)
    models: ModelsConfig = _section(ModelsConfig)
    ui: UiConfig = _section(UiConfig)
    log: LogConfig = _section(LogConfig)
    zk_pull: ZkPullConfig = _section(ZkPullConfig)   # issue 19
    reports: ReportsConfig = _section(ReportsConfig)
    records: RecordsConfig = _section(RecordsConfig)
    fleet: FleetConfig = _section(FleetConfig)   # issue 20
    #: The file that was read (None if there was none); not compared.
    path: Path | None = field(default=None, compare=False)
    #: Environment variables that overrode values; not compared.
    env_overrides: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """All values as ``{section: {key: value}}``."""
        return {
            s.name: {k.name: getattr(getattr(self, s.name), k.name) for k in s.keys}
            for s in SCHEMA
        }


# --------------------------------------------------------------------------
# Schema introspection
# --------------------------------------------------------------------------

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class KeySpec:
    """One key of the schema."""

    section: str
    name: str
    type: type
    default: Any
    meta: _Meta

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def doc(self) -> str:
        return self.meta.doc

    @property
    def env_var(self) -> str:
        return env_var_name(self.section, self.name)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES[self.type]

    def allowed(self) -> str:
        """Human description of the allowed values."""
        m = self.meta
        if m.choices is not None:
            return "one of " + ", ".join(_show(c) for c in m.choices)
        if m.allowed:
            return m.allowed
        if self.type is bool:
            return "true or false"
        if m.min is not None or m.max is not None:
            lo = "" if m.min is None else _show(self.type(m.min))
            hi = "" if m.max is None else _show(self.type(m.max))
            return f"{self.type_name} {lo}..{hi}"
        return "any text" if self.type is str else self.type_name

    def render_value(self, value: Any) -> str:
        """TOML text of a value of this key."""
        if self.meta.hex and isinstance(value, int) and value >= 0:
            return f"0x{value:02X}"
        return _toml_scalar(value)


@dataclass(frozen=True)
class SectionSpec:
    """One section of the schema."""

    name: str
    doc: str
    cls: type
    keys: tuple[KeySpec, ...]

    def key(self, name: str) -> KeySpec | None:
        for k in self.keys:
            if k.name == name:
                return k
        return None


def _build_schema() -> tuple[SectionSpec, ...]:
    sections = []
    for sf in fields(Config):
        if not sf.metadata.get("daka_section"):
            continue
        cls = sf.default_factory  # type: ignore[misc]
        keys = tuple(
            KeySpec(sf.name, kf.name, kf.type, kf.default, kf.metadata["daka"])  # type: ignore[arg-type]
            for kf in fields(cls)
        )
        doc = " ".join((cls.__doc__ or "").split())
        sections.append(SectionSpec(sf.name, doc, cls, keys))
    return tuple(sections)


#: All sections, in file order.
SCHEMA: tuple[SectionSpec, ...] = _build_schema()
_SECTIONS: dict[str, SectionSpec] = {s.name: s for s in SCHEMA}



def env_var_name(section: str, key: str) -> str:
    """``DAKA_<SECTION>_<KEY>`` for a key."""
    return f"{ENV_PREFIX}{section}_{key}".upper()



# --------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------


def _toml_scalar(value: Any) -> str:
    return tomli_w.dumps({"v": value}).strip()[len("v = ") :]


def _show(value: Any) -> str:
    """Short display of a value in messages and docs (TOML-like)."""
    if isinstance(value, (str, bool, int, float)):
        try:
            return _toml_scalar(value)
        except (TypeError, ValueError):
            pass
    return repr(value)


def key_spec(path: str) -> KeySpec:
    """The :class:`KeySpec` of ``section.key``; KeyError when the schema has no such key."""
    section, _, name = path.partition(".")
    spec = _SECTIONS[section].key(name) if section in _SECTIONS else None
    if spec is None:
        raise KeyError(f"{path} is not a key of the config schema")
    return spec


def _suggest(word: str, candidates: Any) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


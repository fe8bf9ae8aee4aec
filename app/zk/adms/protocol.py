"""The ADMS wire format, device side: what the server's answers mean and how Daka's lines look.

Pure functions, no I/O: the handshake's options, the command lines of ``getrequest``, the upload
answers (``OK`` / ``OK: n``), and the ATTLOG / OPERLOG / ``devicecmd`` / ``options`` lines Daka
sends. Anything malformed becomes a clear message in ``ServerOptions.problems`` or a
:class:`CommandLine` with an ``error``, never an exception that stops the link.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

# verify codes of ZKTeco's ATTLOG: 15 = face; 0 = password, the nearest kind for a punch HR made
VERIFY_FACE, VERIFY_OTHER = 15, 0
# devicecmd Return codes
OK, FAILED, BAD_SYNTAX, UNSUPPORTED, TOO_LONG = 0, -1, -1002, -1004, -1006

# The cursor names of the handshake, new spelling and the older firmware's.
STAMP_NAMES = {"ATTLOGStamp": "ATTLOG", "Stamp": "ATTLOG", "OPERLOGStamp": "OPERLOG",
               "OpStamp": "OPERLOG", "ATTPHOTOStamp": "ATTPHOTO", "PhotoStamp": "ATTPHOTO"}
# The legacy 10-digit TransFlag mask, digit by digit (1 = send).
_MASK = ("AttLog", "OpLog", "AttPhoto", "EnrollUser", "ChgUser", "EnrollFP", "ChgFP", "FPImag",
         "EnrollFace", "UserPic")
# Which of Daka's tables a TransFlag name asks for.
_FLAG_TABLES = {"attlog": "ATTLOG", "oplog": "OPERLOG", "enrolluser": "OPERLOG", "chguser": "OPERLOG"}
_BOUNDS = {"Delay": (1.0, 3600.0), "ErrorDelay": (1.0, 3600.0), "TransInterval": (1.0, 1440.0)}
# The options a SET OPTION may override, and the ServerOptions field each one sets.
OPTION_FIELDS = {"Delay": "delay", "ErrorDelay": "error_delay", "Realtime": "realtime",
                 "TransInterval": "trans_interval", "TransTimes": "trans_times", "TransFlag": "tables"}
KNOWN_OPTIONS = {*STAMP_NAMES, "BIODATAStamp", "Delay", "ErrorDelay", "Realtime", "TransInterval",
                 "TransTimes", "TransFlag", "TimeZone", "Encrypt", "ServerVer", "PushProtVer",
                 "PushOptionsFlag", "ATTPHOTOBase64", "MultiBioDataSupport", "MultiBioPhotoSupport"}


@dataclass
class ServerOptions:
    """The server's handshake answer, checked; defaults where it said nothing usable."""

    stamps: dict[str, int | None] = field(default_factory=dict)  # table -> cursor; None: not a number
    delay: float = 30.0            # seconds between command polls
    error_delay: float = 60.0      # seconds before retrying after a failure
    realtime: bool = True          # upload each punch at once
    trans_interval: float = 1.0    # minutes between uploads when not realtime
    trans_times: tuple[str, ...] = ()  # HH:MM when not realtime
    tables: frozenset[str] | None = None   # TransFlag: the tables the server wants; None = all
    timezone: float | None = None  # hours east of UTC (a hint for the admin)
    encrypt: str = ""
    server_ver: str = ""
    unknown: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"delay": self.delay, "error_delay": self.error_delay, "realtime": self.realtime,
                "trans_interval": self.trans_interval, "trans_times": list(self.trans_times),
                "tables": sorted(self.tables) if self.tables is not None else None,
                "timezone": self.timezone, "server_ver": self.server_ver,
                "stamps": dict(self.stamps)}


def parse_stamp(value: str) -> int | None:
    """``None``/``0``/empty: everything (0); digits: that cursor; anything else: None (unusable)."""
    value = value.strip()
    if value in ("", "None", "none", "NONE", "null"):
        return 0
    return int(value) if value.isdigit() and len(value) <= 18 else None


def parse_trans_flag(value: str) -> frozenset[str]:
    """Daka's tables a ``TransFlag`` asks for: names (``TransData AttLog\\tOpLog``) or a digit mask."""
    value = value.strip()
    if value and set(value) <= {"0", "1"}:
        names = [name for name, bit in zip(_MASK, value) if bit == "1"]
    else:
        names = [n for n in re.split(r"[\s,;]+", value) if n and n.lower() != "transdata"]
    return frozenset(_FLAG_TABLES[n.lower()] for n in names if n.lower() in _FLAG_TABLES)


def parse_handshake(text: str) -> ServerOptions:
    """Options from a ``GET /iclock/cdata?options=all`` answer (one ``key=value`` a line)."""
    opts = ServerOptions()
    seen = False
    for raw in text.splitlines():
        line = raw.strip().strip("\x00")
        if not line or line.upper().startswith("GET OPTION FROM"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            opts.problems.append(f"not a key=value line: {line[:80]!r}")
            continue
        seen = True
        try:
            apply_option(opts, key, value)
        except ValueError as exc:
            opts.problems.append(f"{key}={value[:40]!r}: {exc}")
    if not seen:
        opts.problems.append("no options in the answer")
    return opts


def _number(key: str, value: str) -> float:
    number = float(value)
    low, high = _BOUNDS[key]
    if not low <= number <= high:
        raise ValueError(f"outside {low:g}..{high:g}")
    return number


def apply_option(opts: ServerOptions, key: str, value: str) -> None:
    if key in STAMP_NAMES:
        stamp = parse_stamp(value)
        if stamp is None:
            raise ValueError("not a stamp Daka can follow (kept its own cursor)")
        opts.stamps[STAMP_NAMES[key]] = stamp
    elif key == "Delay":
        opts.delay = _number(key, value)
    elif key == "ErrorDelay":
        opts.error_delay = _number(key, value)
    elif key == "TransInterval":
        opts.trans_interval = _number(key, value)
    elif key == "Realtime":
        if value not in ("0", "1"):
            raise ValueError("not 0 or 1")
        opts.realtime = value == "1"
    elif key == "TransTimes":
        times = tuple(t.strip() for t in re.split(r"[;,\s]+", value) if t.strip())
        bad = [t for t in times if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", t)]
        if bad:
            raise ValueError(f"not HH:MM: {', '.join(bad[:3])}")
        opts.trans_times = tuple(f"{int(t.split(':')[0]):02d}:{t.split(':')[1]}" for t in times)
    elif key == "TransFlag":
        opts.tables = parse_trans_flag(value)
    elif key == "TimeZone":
        hours = float(value)
        # some servers give minutes (480 for UTC+8)
        hours = hours / 60 if abs(hours) > 14 else hours
        if abs(hours) > 14:
            raise ValueError("not a zone offset")
        opts.timezone = hours
    elif key == "Encrypt":
        opts.encrypt = value
    elif key == "ServerVer":
        opts.server_ver = value[:64]
    elif key not in KNOWN_OPTIONS:
        opts.unknown[key[:64]] = value[:200]


def parse_ok(text: str) -> int | None:
    """The count of an upload's ``OK: n`` answer; -1 for a bare ``OK``; None when it is not OK."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if first == "OK":
        return -1
    m = re.fullmatch(r"OK\s*:\s*(\d+)", first)
    return int(m.group(1)) if m else None


def clean(value) -> str:
    """A field value without the tabs and line breaks that separate fields and lines."""
    return re.sub(r"[\t\r\n]+", " ", str("" if value is None else value))


def attlog_line(pin: str, local: dt.datetime, *, status: int = 0, verify: int = VERIFY_FACE,
                workcode: str = "0") -> str:
    """``PIN \\t YYYY-MM-DD HH:MM:SS \\t status \\t verify \\t workcode \\t 0 \\t 0`` (local time)."""
    return "\t".join((clean(pin), local.strftime("%Y-%m-%d %H:%M:%S"), str(status), str(verify),
                      clean(workcode), "0", "0"))


def user_line(pin: str, name: str, *, privilege: int = 0) -> str:
    return (f"USER PIN={clean(pin)}\tName={clean(name)}\tPri={privilege}\tPasswd=\tCard=\tGrp=1"
            f"\tTZ=0000000000000000")


def oplog_line(op: int, admin: str, local: dt.datetime, obj: str = "0", p1: str = "0",
               p2: str = "0", p3: str = "0") -> str:
    """``OPLOG op \\t admin \\t time \\t object \\t param1 \\t param2 \\t param3``."""
    return "OPLOG " + "\t".join((str(op), clean(admin) or "0", local.strftime("%Y-%m-%d %H:%M:%S"),
                                  clean(obj) or "0", clean(p1) or "0", clean(p2) or "0",
                                  clean(p3) or "0"))


def result_line(command_id: int, code: int, name: str) -> str:
    return f"ID={command_id}&Return={code}&CMD={clean(name).replace('&', ' ')}"


@dataclass(frozen=True)
class CommandLine:
    """One ``C:<id>:<command>`` line of a getrequest answer."""

    id: int | None
    text: str
    error: str | None = None

    @property
    def name(self) -> str:
        """The CMD of the result: the command's first word (DATA, CHECK, SET ...)."""
        return self.text.split(" ", 1)[0][:32] if self.text else "UNKNOWN"


_COMMAND_RE = re.compile(r"C:(\d{1,18}):(.*)", re.S)


def parse_commands(text: str, *, max_line: int) -> list[CommandLine]:
    """The commands of a getrequest answer (``OK`` alone: none).

    A line longer than ``max_line`` keeps its id (to answer "too long") but not its text.
    """
    out: list[CommandLine] = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r").strip("\x00")
        if not line.strip() or line.strip() == "OK":
            continue
        m = _COMMAND_RE.match(line.lstrip())
        if m is None:
            out.append(CommandLine(None, line[:80], "not a C:<id>:<command> line"))
        elif len(line) > max_line:
            out.append(CommandLine(int(m.group(1)), m.group(2)[:40], f"{len(line)} characters, "
                                   f"at most {max_line}"))
        else:
            out.append(CommandLine(int(m.group(1)), m.group(2).strip()))
    return out


def parse_fields(text: str) -> dict[str, str]:
    """``PIN=1\\tName=x`` (tabs; spaces when every token is key=value) as a dict."""
    parts = text.split("\t") if "\t" in text else re.split(r"\s+(?=[A-Za-z~][\w~]*=)", text.strip())
    out: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def info_param(firmware: str, users: int, faces: int, punches: int, ip: str) -> str:
    """getrequest's ``INFO``: firmware, users, fingerprints, punches, IP, fp algorithm, face algorithm,
    faces to enrol, faces, support flags."""
    return ",".join(str(v) for v in (firmware, users, 0, punches, ip, 0, 0, 0, faces, "0"))

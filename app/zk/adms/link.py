"""AdmsLink: Daka as a ZKTeco PUSH (ADMS) terminal, on one thread of its own.

The device side of the protocol: handshake (``GET /iclock/cdata?options=all``), punches and the
operation log pushed after the server's stamps (``POST /iclock/cdata?table=ATTLOG|OPERLOG``),
commands polled every ``Delay`` seconds (``GET /iclock/getrequest``) and their results
(``POST /iclock/devicecmd``), device information (``table=options``).

Delivery: each table has its own cursor in the store (``adms_cursors``): the id of the last row
the server answered ``OK`` for. A crash between the server's ``OK`` and the cursor's write sends
that batch again (at least once); the server's stamp, which it stores with the batch, makes it
exactly once there, and a numeric stamp in the handshake moves the cursor (``None``/``0``: send
everything). Any failure (refused, timed out, HTTP 500, an answer that is not ``OK``) leaves the
cursor where it was and the link waits ``ErrorDelay`` before the next handshake.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from loguru import logger

import app
from app.services.status import local_ip

from . import protocol
from .commands import CommandRunner, Result
from .data import AdmsData
from .transport import Answer, HttpTransport, TransportError

TABLES = ("ATTLOG", "OPERLOG")
MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
PUSH_VERSION = "2.4.1"
LANGUAGE = "69"


def default_serial(paths=MACHINE_ID_FILES) -> str:
    """``DAKA`` + 12 hex digits of a hash of the machine id (the id itself is not given out)."""
    for path in paths:
        try:
            machine = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if machine:
            break
    else:
        machine = "host:" + socket.gethostname()
    return "DAKA" + hashlib.sha256(f"daka-adms:{machine}".encode()).hexdigest()[:12].upper()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AdmsLink:
    BATCH = 200                  # lines per upload
    MAX_QUERY_LINES = 50_000     # punches one DATA QUERY ATTLOG re-sends at most
    TICK = 0.25                  # seconds between looks for new punches (Realtime=1)
    MAX_ANSWER = 64 * 1024 * 1024

    def __init__(self, store, config, *, library=None, journal=None, wake_flush: Callable[[], None] | None = None,
                 retention=None, restart: Callable[[], None] | None = None, transport=None,
                 serial_source: Callable[[], str] = default_serial, timezone: Callable[[], str] | None = None,
                 on_staff_changed: Callable[[str], None] | None = None):
        self.store, self.config = store, config
        self.library, self.journal, self.retention = library, journal, retention
        self.wake_flush, self.restart = wake_flush, restart
        self.transport = transport or HttpTransport()
        # the terminal's zone now (a run-time setting), else the config's
        self.data = AdmsData(store, timezone or (lambda: self.config.device.timezone))
        self.runner = CommandRunner(self)
        self.on_staff_changed = on_staff_changed
        self.on_upload: Callable[[str, int], None] | None = None   # (table, new cursor): benchmarks
        self._default_serial = serial_source()
        self.options: protocol.ServerOptions | None = None
        self._overrides: dict[str, str] = {}
        self._need_handshake = True
        self._upload_requested = False
        self._unsent: list[tuple[protocol.CommandLine, Result]] = []
        self._wake, self._halt = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._last_trans = time.monotonic()
        self._last_flush_wake = 0.0
        # what the admin's system page shows
        self.state = "off"
        self.last_handshake: dt.datetime | None = None
        self.last_upload: dt.datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: dt.datetime | None = None
        self.clock_offset_s: float | None = None
        self.commands_received = 0
        self.results: deque[dict] = deque(maxlen=20)
        self.sent_lines = 0

    # -- settings -------------------------------------------------------------
    @property
    def cfg(self):
        return self.config.push

    @property
    def serial(self) -> str:
        return self.cfg.adms_serial or self._default_serial

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.adms_url)

    def configure(self, config) -> None:
        """Follow changed settings (live): a new server or serial starts with a handshake."""
        old = self.config.push
        self.config = config
        if (old.adms_url, old.adms_serial) != (config.push.adms_url, config.push.adms_serial):
            self._need_handshake = True
            self.options = None
        self._wake.set()

    follow_adms_settings = configure   # what the settings registry's applier calls

    def enabled_commands(self) -> set[str]:
        return {c.strip().upper() for c in self.cfg.adms_commands.split(",") if c.strip()}

    def tables(self) -> list[str]:
        wanted = {t.strip().upper() for t in self.cfg.adms_tables.split(",") if t.strip()}
        options = self.options   # once: a settings change may drop it meanwhile
        server = options.tables if options is not None else None
        return [t for t in TABLES if t in wanted and (server is None or t in server)]

    def _url(self, endpoint: str, **params) -> str:
        base = self.cfg.adms_url.rstrip("/")
        if not base.endswith("/iclock"):
            base += "/iclock"
        return f"{base}/{endpoint}?" + urlencode({"SN": self.serial, **params})

    # -- life cycle ---------------------------------------------------------------
    def start(self) -> AdmsLink:
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name="adms", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.cfg.adms_timeout_seconds + 10)
            self._thread = None

    def staff_changed(self, staff_no: str) -> None:
        """A command changed a person (the kiosk's cached card of them is stale)."""
        if self.on_staff_changed is not None:
            self.on_staff_changed(staff_no)

    def request_handshake(self) -> None:
        self._need_handshake = True
        self._wake.set()

    def upload_now(self) -> None:
        self._upload_requested = True
        self._wake.set()

    def _wait(self, seconds: float) -> None:
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()

    def _run(self) -> None:
        next_poll = 0.0
        while not self._halt.is_set():
            if not self.enabled:
                self.state = "off"
                self._wait(5.0)
                continue
            try:
                if self._need_handshake:
                    if not self.handshake():
                        self.state = "error"
                        self._wait(self._error_delay())
                        continue
                    next_poll = 0.0
                if self._upload_due() and not self.upload():
                    self._failed_round()
                    continue
                if time.monotonic() >= next_poll:
                    if not self.poll():
                        self._failed_round()
                        continue
                    next_poll = time.monotonic() + self._delay()
                self.state = "online"
            except Exception as exc:   # the link keeps going; the next round starts with a handshake
                logger.exception("adms: unexpected failure")
                self._error(f"{type(exc).__name__}: {exc}")
                self._failed_round()
                continue
            self._wait(min(self.TICK if self._realtime() else 1.0, max(0.0, next_poll - time.monotonic())))

    def _failed_round(self) -> None:
        self._need_handshake = True
        self.state = "error"
        self._wait(self._error_delay())

    # -- options in force -------------------------------------------------------------
    def _option(self, name: str, default):
        override, options = self._overrides.get(name), self.options
        if override is not None:
            probe = protocol.ServerOptions()
            protocol.apply_option(probe, name, override)
            return getattr(probe, protocol.OPTION_FIELDS[name])
        return getattr(options, protocol.OPTION_FIELDS[name]) if options is not None else default

    def _delay(self) -> float:
        return self._option("Delay", 30.0)

    def _error_delay(self) -> float:
        if self.options is None and "ErrorDelay" not in self._overrides:
            return self.cfg.adms_retry_seconds
        return self._option("ErrorDelay", self.cfg.adms_retry_seconds)

    def _realtime(self) -> bool:
        return self._option("Realtime", True)

    def set_option(self, key: str, value: str) -> str | None:
        """SET OPTION of a safe key; the problem with the value, or None when taken."""
        probe = protocol.ServerOptions()
        try:
            protocol.apply_option(probe, key, value)
        except ValueError as exc:
            return f"{key}={value[:40]!r}: {exc}"
        if key == "TransFlag":
            if self.options is not None:
                self.options.tables = probe.tables
        else:
            self._overrides[key] = value
        self._wake.set()
        return None

    # -- requests -------------------------------------------------------------------------
    def _request(self, method: str, url: str, body: bytes | None = None, *, max_bytes: int = 1024 * 1024) -> Answer | None:
        try:
            answer = self.transport.request(method, url, body, timeout=self.cfg.adms_timeout_seconds,
                                            max_bytes=max_bytes)
        except TransportError as exc:
            self._error(f"{method} {url.split('?')[0]}: {exc}")
            return None
        if answer.status != 200:
            self._error(f"{method} {url.split('?')[0]}: HTTP {answer.status} {answer.text()[:120]!r}")
            return None
        return answer

    def _error(self, message: str) -> None:
        if message != self.last_error:
            logger.warning("adms: {}", message)
        self.last_error, self.last_error_at = message[:500], _utcnow()

    def _encode(self, lines: list[str]) -> bytes:
        return ("\n".join(lines) + "\n").encode(self.cfg.adms_encoding, errors="replace")

    # -- handshake ----------------------------------------------------------------------
    def handshake(self) -> bool:
        answer = self._request("GET", self._url("cdata", options="all", pushver=PUSH_VERSION,
                                                language=LANGUAGE))
        if answer is None:
            return False
        options = protocol.parse_handshake(answer.text())
        for problem in options.problems:
            logger.warning("adms: handshake from {}: {}", self.cfg.adms_url, problem)
        if options.unknown:
            logger.info("adms: handshake options Daka does not use: {}", ", ".join(sorted(options.unknown)))
        if not options.stamps and "no options in the answer" in options.problems:
            self._error(f"handshake: not an ADMS answer: {answer.text()[:120]!r}")
            return False
        self._apply_stamps(options)
        self.options = options
        self._overrides.clear()
        self.clock_offset_s = _clock_offset(answer.headers.get("Date"))
        self._need_handshake = False
        self.last_handshake = _utcnow()
        self.state = "online"
        logger.info("adms: handshake with {} as {}: stamps {}, delay {:g} s, realtime {}, tables {}",
                    self.cfg.adms_url, self.serial, options.stamps, options.delay, options.realtime,
                    ",".join(self.tables()) or "none")
        self._send_options()
        return True

    def _apply_stamps(self, options: protocol.ServerOptions) -> None:
        for table, top in (("ATTLOG", self.data.max_punch_id), ("OPERLOG", self.data.max_audit_id)):
            stamp = options.stamps.get(table)
            if stamp is None:
                continue
            local, newest = self.data.cursor(table), top()
            if stamp > newest:
                # not a stamp of ours (another device's, or this database is newer than the server's
                # memory of it): keep our own cursor rather than skip punches
                logger.warning("adms: the server's {} stamp {} is past the newest row ({}); sending "
                               "after {}", table, stamp, newest, min(local, newest))
                if local > newest:
                    self.data.set_cursor(table, newest)
            elif stamp != local:
                logger.info("adms: the server's {} stamp moves the cursor from {} to {}", table, local, stamp)
                self.data.set_cursor(table, stamp)

    def device_info(self) -> dict[str, str]:
        users, faces, punches = self.data.counts()
        return {"~DeviceName": self.config.device.name.replace(",", " "), "SN": self.serial,
                "FWVersion": f"Daka {app.__version__}", "PushVersion": PUSH_VERSION,
                "UserCount": str(users), "FaceCount": str(faces), "FPCount": "0",
                "TransactionCount": str(punches), "IPAddress": local_ip() or "127.0.0.1",
                "Platform": "Daka", "~ZKFaceVersion": "0"}

    def _send_options(self) -> None:
        body = ",".join(f"{k}={protocol.clean(v).replace(',', ' ')}" for k, v in self.device_info().items())
        answer = self._request("POST", self._url("cdata", table="options"),
                               (body + "\n").encode(self.cfg.adms_encoding, errors="replace"))
        if answer is not None and protocol.parse_ok(answer.text()) is None:
            logger.info("adms: table=options answered {!r}", answer.text()[:80])

    # -- uploads ------------------------------------------------------------------------
    def _upload_due(self) -> bool:
        if self._upload_requested:
            return True
        if self._realtime():
            if self.journal is not None and self.wake_flush is not None and self.journal.pending_count():
                now = time.monotonic()
                if now - self._last_flush_wake > 0.5:   # at most one wake-up per flush
                    self._last_flush_wake = now
                    self.wake_flush()
            return any(self._waiting(t) for t in self.tables())
        interval = self._option("TransInterval", 1.0) * 60
        times = self._option("TransTimes", ())
        now = time.monotonic()
        if now - self._last_trans >= interval or _crossed(times, self._last_trans, now):
            self._last_trans = now
            return True
        return False

    def _waiting(self, table: str) -> bool:
        top = self.data.max_punch_id() if table == "ATTLOG" else self.data.max_audit_id()
        return top > self.data.cursor(table)

    def upload(self) -> bool:
        """Send every table's rows after its cursor, batch by batch; False at the first failure."""
        self._upload_requested = False
        for table in self.tables():
            while not self._halt.is_set():
                cursor = self.data.cursor(table)
                batch = (self.data.punches_after(cursor, self.BATCH) if table == "ATTLOG"
                         else self.data.operlog_after(cursor, self.BATCH))
                if not batch.rows:
                    break
                if batch.lines and not self.upload_lines(table, batch.lines, stamp=batch.last_id):
                    return False
                self.data.set_cursor(table, batch.last_id)   # only after the server's OK
                if self.on_upload is not None:
                    self.on_upload(table, batch.last_id)
        return True

    def upload_lines(self, table: str, lines: list[str], *, stamp: int | None) -> bool:
        """POST ``lines`` as ``table``; True when the server answered ``OK`` / ``OK: n``."""
        params = {"table": table, "Stamp": stamp if stamp is not None else self.data.cursor(table)}
        answer = self._request("POST", self._url("cdata", **params), self._encode(lines))
        if answer is None:
            return False
        count = protocol.parse_ok(answer.text())
        if count is None:
            self._error(f"{table}: the server did not answer OK: {answer.text()[:120]!r}")
            return False
        if count >= 0 and count != len(lines):
            logger.warning("adms: {} sent {} lines, the server counted {}", table, len(lines), count)
        self.last_upload = _utcnow()
        self.sent_lines += len(lines)
        return True

    # -- commands -----------------------------------------------------------------------
    def _max_line(self) -> int:
        photo = self.library.max_bytes if self.library is not None else 4 * 1024 * 1024
        return photo * 4 // 3 + 4096

    def poll(self) -> bool:
        if self._unsent and not self._deliver_results():
            return False
        users, faces, punches = self.data.counts()
        info = protocol.info_param(f"Daka {app.__version__}", users, faces, punches, local_ip() or "")
        answer = self._request("GET", self._url("getrequest", INFO=info),
                               max_bytes=min(self.MAX_ANSWER, self._max_line() * 8))
        if answer is None:
            return False
        commands = protocol.parse_commands(answer.text(), max_line=self._max_line())
        if answer.truncated and commands:
            # the last line was cut: it is answered as too long, never carried out half-read
            last = commands[-1]
            logger.warning("adms: the getrequest answer is longer than {} bytes: cut", len(answer.body))
            commands[-1] = protocol.CommandLine(last.id, last.text[:40], f"cut at {len(answer.body)} characters")
        for command in commands:
            if command.id is None:
                logger.warning("adms: ignored an answer line: {} ({!r})", command.error, command.text)
                continue
            self.commands_received += 1
            result = self.runner.run(command)
            level = "INFO" if result.code == protocol.OK else "WARNING"
            logger.log(level, "adms: command {} {!r}: {} {}", command.id, command.text[:60], result.code,
                       result.detail)
            self.results.append({"id": command.id, "cmd": command.text[:60], "code": result.code,
                                 "detail": result.detail[:200], "at": _utcnow().isoformat()})
            self._unsent.append((command, result))
        return self._deliver_results() if self._unsent else True

    def _deliver_results(self) -> bool:
        lines: list[str] = []
        for command, result in self._unsent:
            lines.append(protocol.result_line(command.id, result.code, command.name))
            lines.extend(result.data)
            if result.code != protocol.OK and result.detail:
                lines.append(f"Reason={protocol.clean(result.detail)[:300]}")
        answer = self._request("POST", self._url("devicecmd"), self._encode(lines))
        if answer is None:
            return False
        done, self._unsent = self._unsent, []
        for _command, result in done:
            if result.after is not None:
                result.after()
        return True

    # -- status -------------------------------------------------------------------------
    def status(self) -> dict:
        """The admin's ADMS block (a database read: not on the UI thread)."""
        iso = lambda t: t.isoformat() if t else None   # noqa: E731
        options = self.options
        queue = None
        if self.enabled:
            try:
                queue = self.data.punches_waiting(self.data.cursor("ATTLOG"))
            except Exception as exc:
                logger.warning("adms: queue length not read: {}", exc)
        return {"enabled": self.enabled, "url": self.cfg.adms_url, "serial": self.serial,
                "state": self.state if self.enabled else "off",
                "last_handshake_utc": iso(self.last_handshake), "last_upload_utc": iso(self.last_upload),
                "queue": queue, "last_error": self.last_error, "last_error_utc": iso(self.last_error_at),
                "commands_received": self.commands_received, "results": list(self.results)[::-1],
                "clock_offset_s": self.clock_offset_s,
                "server_timezone": options.timezone if options is not None else None,
                "options": options.as_dict() if options is not None else None}


def _clock_offset(header: str | None) -> float | None:
    """Server clock minus ours, from the HTTP Date header (a hint: the clock is never set from it)."""
    if not header:
        return None
    try:
        server = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        return None
    return round((server - _utcnow()).total_seconds(), 1)


def _crossed(times: tuple[str, ...], since: float, now: float) -> bool:
    """Whether a TransTimes HH:MM fell between two monotonic instants (the wall clock now)."""
    if not times:
        return False
    wall_now = dt.datetime.now()
    wall_then = wall_now - dt.timedelta(seconds=now - since)
    for hhmm in times:
        hour, minute = (int(v) for v in hhmm.split(":"))
        for day in {wall_then.date(), wall_now.date()}:
            moment = dt.datetime.combine(day, dt.time(hour, minute))
            if wall_then < moment <= wall_now:
                return True
    return False

"""Carry out the commands an ADMS server queues (``C:<id>:<command>``), each giving one result.

Supported: ``DATA UPDATE USERINFO`` / ``DATA DELETE USERINFO`` (staff), ``DATA UPDATE BIOPHOTO``
(a face photo enrolled through :meth:`FaceLibrary.enroll`, with its quality checks), ``DATA QUERY
ATTLOG`` / ``USERINFO``, ``CHECK``, ``INFO``, ``LOG``, ``SET OPTION`` (safe keys only),
``REBOOT`` (the service restarts) and, only when enabled, ``CLEAR LOG``. ZKTeco's ``BIODATA`` /
``FINGERTMP`` templates are proprietary: unsupported. A command family not enabled in
``[push] adms_commands`` is refused; nothing here raises out to the link.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from app.library.names import BadName, Identity

from . import protocol
from .data import ACTOR, AdmsData

if TYPE_CHECKING:
    from .link import AdmsLink

# SET OPTION keys a server may change: the link's own timing and tables (kept until the next
# handshake), never the clock or anything else of the terminal.
SAFE_OPTIONS = set(protocol.OPTION_FIELDS)
FACE_PHOTO_TYPE = "9"


@dataclass
class Result:
    code: int
    detail: str = ""
    data: list[str] = field(default_factory=list)   # lines after the ID line (INFO)
    after: Callable[[], None] | None = None          # run once the result was delivered (REBOOT)


class CommandRunner:
    def __init__(self, link: AdmsLink):
        self.link = link

    @property
    def data(self) -> AdmsData:
        return self.link.data

    def run(self, command: protocol.CommandLine) -> Result:
        if command.error is not None:
            code = protocol.TOO_LONG if "characters" in command.error else protocol.BAD_SYNTAX
            logger.warning("adms: command {} refused: {}", command.id, command.error)
            return Result(code, command.error)
        text = command.text
        words = text.split(None, 3)
        head = " ".join(words[:3]).upper()
        try:
            if head.startswith("DATA UPDATE USERINFO"):
                return self._gated("USERINFO", self._update_user, _rest(text, 3))
            if head.startswith("DATA USER "):   # the oldest firmware's spelling
                return self._gated("USERINFO", self._update_user, _rest(text, 2))
            if head.startswith("DATA DELETE USERINFO"):
                return self._gated("USERINFO", self._delete_user, _rest(text, 3))
            if head.startswith("DATA UPDATE BIOPHOTO"):
                return self._gated("BIOPHOTO", self._biophoto, _rest(text, 3))
            if head.startswith("DATA QUERY ATTLOG"):
                return self._gated("QUERY", self._query_attlog, _rest(text, 3))
            if head.startswith("DATA QUERY USERINFO"):
                return self._gated("QUERY", self._query_users, _rest(text, 3))
            if head.startswith(("DATA UPDATE BIODATA", "DATA UPDATE FINGERTMP", "DATA UPDATE FACE",
                                "DATA DELETE BIODATA", "DATA DELETE FINGERTMP", "DATA QUERY BIODATA",
                                "DATA QUERY FINGERTMP", "ENROLL_")):
                return Result(protocol.UNSUPPORTED, "ZKTeco biometric templates are proprietary: "
                              "Daka enrols face photos (BIOPHOTO)")
            upper = text.upper()
            if upper == "CHECK":
                return self._gated("CHECK", self._check, "")
            if upper == "INFO":
                return self._gated("INFO", self._info, "")
            if upper == "LOG":
                return self._gated("LOG", self._log, "")
            if upper.startswith("SET OPTION "):
                return self._gated("OPTION", self._set_option, text[len("SET OPTION "):])
            if upper == "REBOOT":
                return self._gated("REBOOT", self._reboot, "")
            if upper in ("CLEAR LOG", "CLEAR ATTLOG"):
                return self._gated("CLEAR", self._clear_log, "")
            if upper.startswith(("CLEAR ", "DATA ")):
                return Result(protocol.UNSUPPORTED, f"{text[:40]!r} is not supported")
            return Result(protocol.UNSUPPORTED, f"unknown command {text[:40]!r}")
        except Exception as exc:   # a failing command is its result, never the link's end
            logger.exception("adms: command {} failed", command.id)
            return Result(protocol.FAILED, f"{type(exc).__name__}: {exc}"[:200])

    def _gated(self, family: str, func, rest: str) -> Result:
        if family not in self.link.enabled_commands():
            return Result(protocol.FAILED, f"{family} commands are not enabled "
                          f"([push] adms_commands)")
        return func(rest)

    # -- staff -------------------------------------------------------------
    def _update_user(self, rest: str) -> Result:
        fields = protocol.parse_fields(rest)
        pin = fields.get("PIN") or fields.get("Pin") or ""
        if not pin:
            return Result(protocol.BAD_SYNTAX, "USERINFO without PIN")
        try:
            outcome = self.data.upsert_staff(pin, fields.get("Name", ""))
        except BadName as exc:
            return Result(protocol.FAILED, f"bad_name: {exc}")
        self.link.staff_changed(pin)
        return Result(protocol.OK, f"{pin} {outcome}")

    def _delete_user(self, rest: str) -> Result:
        pin = protocol.parse_fields(rest).get("PIN", "")
        if not pin:
            return Result(protocol.BAD_SYNTAX, "USERINFO without PIN")
        library = self.link.library
        staff_id = self.data.delete_staff(pin, library.photos_dir if library is not None else None)
        if staff_id is None:
            return Result(protocol.OK, f"{pin} was not here")   # the server's wish holds
        if library is not None:
            library.gallery.remove_staff(staff_id)
        self.link.staff_changed(pin)
        return Result(protocol.OK, f"{pin} deleted")

    def _biophoto(self, rest: str) -> Result:
        fields = protocol.parse_fields(rest)
        pin = fields.get("PIN") or fields.get("Pin") or ""
        content = fields.get("Content", "")
        if not pin or not content:
            return Result(protocol.BAD_SYNTAX, "BIOPHOTO needs PIN and Content")
        if fields.get("Type", FACE_PHOTO_TYPE) != FACE_PHOTO_TYPE:
            return Result(protocol.UNSUPPORTED, f"photo type {fields.get('Type')!r}: only 9 (face)")
        library = self.link.library
        limit = library.max_bytes if library is not None else 0
        if library is not None and len(content) > limit * 4 // 3 + 8:
            return Result(protocol.TOO_LONG, f"photo larger than {limit} bytes")
        try:
            photo = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            return Result(protocol.BAD_SYNTAX, f"bad base64: {exc}")
        if library is None:
            return Result(protocol.UNSUPPORTED, "no face library in this process")
        size = fields.get("Size", "")
        if size and size not in (str(len(photo)), str(len(content))):
            return Result(-2, f"Size={size[:12]} but the photo has {len(photo)} bytes")
        name = self.data.staff_name(pin)
        if name is None:
            return Result(-10, f"unknown_staff: no one has PIN {pin} (send USERINFO first)")
        result = library.enroll(photo, Identity(pin, name, existing=True), label=f"{pin}_adms.jpg")
        if not result.ok:
            return Result(protocol.FAILED, f"{result.reason}: {result.message('en')} {result.detail}".strip())
        self.link.staff_changed(pin)
        return Result(protocol.OK, f"{pin} enrolled (template {result.template_id})")

    # -- queries -------------------------------------------------------------
    def _query_attlog(self, rest: str) -> Result:
        fields = protocol.parse_fields(rest)
        try:
            start = dt.datetime.strptime(fields.get("StartTime", ""), "%Y-%m-%d %H:%M:%S")
            end = dt.datetime.strptime(fields.get("EndTime", ""), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return Result(protocol.BAD_SYNTAX, "StartTime and EndTime must be YYYY-MM-DD HH:MM:SS")
        lines = self.data.punches_between(start, end, self.link.MAX_QUERY_LINES)
        if lines and not self.link.upload_lines("ATTLOG", lines, stamp=None):
            return Result(protocol.FAILED, "the re-upload failed")
        return Result(protocol.OK, f"{len(lines)} punches re-sent")

    def _query_users(self, rest: str) -> Result:
        pin = protocol.parse_fields(rest).get("PIN") if rest.strip() else None
        lines = self.data.user_lines(pin)
        if lines and not self.link.upload_lines("OPERLOG", lines, stamp=None):
            return Result(protocol.FAILED, "the upload failed")
        return Result(protocol.OK, f"{len(lines)} users sent")

    def _check(self, _rest: str) -> Result:
        self.link.request_handshake()
        return Result(protocol.OK)

    def _info(self, _rest: str) -> Result:
        return Result(protocol.OK, data=[f"{k}={protocol.clean(v)}" for k, v in self.link.device_info().items()])

    def _log(self, _rest: str) -> Result:
        self.link.upload_now()
        return Result(protocol.OK)

    def _set_option(self, rest: str) -> Result:
        key, sep, value = rest.partition("=")
        key = key.strip()
        if not sep or not key:
            return Result(protocol.BAD_SYNTAX, "SET OPTION needs key=value")
        if key not in SAFE_OPTIONS:
            return Result(protocol.UNSUPPORTED, f"option {key[:40]!r} is not one Daka lets a server set")
        problem = self.link.set_option(key, value.strip())
        return Result(protocol.BAD_SYNTAX, problem) if problem else Result(protocol.OK, f"{key}={value.strip()}")

    # -- service -----------------------------------------------------------------
    def _reboot(self, _rest: str) -> Result:
        restart = self.link.restart
        if restart is None:
            return Result(protocol.UNSUPPORTED, "this process cannot restart itself")
        with self.link.store.session() as s:
            self.link.store.audit(s, ACTOR, "adms_reboot")
        return Result(protocol.OK, "restarting the service", after=restart)

    def _clear_log(self, _rest: str) -> Result:
        retention = self.link.retention
        if retention is None:
            return Result(protocol.UNSUPPORTED, "no attendance store in this process")
        deleted = retention.clear_range(dt.datetime(1970, 1, 2, tzinfo=dt.UTC),
                                        dt.datetime.now(dt.UTC) + dt.timedelta(days=1), ACTOR)
        return Result(protocol.OK, f"{deleted} punches deleted")


def _rest(text: str, words: int) -> str:
    """What follows the first `words` words (the fields keep their tabs)."""
    rest = text
    for _ in range(words):
        rest = rest.lstrip(" ")
        cut = rest.find(" ")
        tab = rest.find("\t")
        ends = [i for i in (cut, tab) if i >= 0]
        if not ends:
            return ""
        rest = rest[min(ends) + 1:]
    return rest

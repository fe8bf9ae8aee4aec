"""What a ZKTeco terminal holds, read from Daka's store: users, attendance logs, counts, the clock.

Users are the staff (uid = ``Staff.zk_uid``, user id = staff number); the attendance log is every
stored punch, read through the one punch-range module (``app.attendance.queries``) with its
terminal-local time. Writes (add/rename or delete a user) and setting the clock exist only
behind settings, and every one is audited.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select

from app.attendance import queries
from app.attendance.localtime import FIRST_DATE, LAST_DATE
from app.library.names import BadName, check_person_name, check_staff_no
from app.store import FaceTemplate, Staff, Store
from app.store.models import ZK_UID_MAX

from . import protocol as p

#: Capacities the free-sizes answer reports (a ZKTeco face terminal's usual figures).
USER_CAPACITY = 10_000
RECORD_CAPACITY = 1_000_000
FACE_CAPACITY = 10_000
ALL_DAYS = (FIRST_DATE, LAST_DATE)


class WriteRefused(ValueError):
    """A write the device does not make; the message says why (it goes to the audit log)."""


@dataclass(frozen=True)
class Counts:
    users: int
    records: int
    faces: int

    def free_sizes(self) -> bytes:
        """``20i`` (users at [4], records at [8], capacities at [14]-[16], free at [17]-[19]) + ``3i`` faces."""
        fields = [0] * 20
        fields[4], fields[8] = self.users, self.records
        fields[15], fields[16] = USER_CAPACITY, RECORD_CAPACITY
        fields[18] = max(0, USER_CAPACITY - self.users)
        fields[19] = max(0, RECORD_CAPACITY - self.records)
        return struct.pack("<20i", *fields) + struct.pack("<3i", self.faces, 0, FACE_CAPACITY)


#: The 40-byte attendance record (``<H24sB4sB8s``, the time a little-endian u32) as numpy sees it.
ATTENDANCE_DTYPE = np.dtype({"names": ["uid", "user_id", "verify", "time", "state"],
                             "formats": ["<u2", "S24", "u1", "<u4", "u1"],
                             "offsets": [0, 2, 26, 27, 31], "itemsize": p.ATTENDANCE_RECORD.size})


def _encoded_local_times(utc_us: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """UTC microseconds as terminal-local times packed as the protocol's u32 (:func:`protocol.encode_time`)."""
    utc_s = utc_us // 1_000_000
    # A zone's offset changes at whole hours: look it up once per distinct UTC hour.
    hours, where = np.unique(utc_s // 3600, return_inverse=True)
    offsets = np.array([int(dt.datetime.fromtimestamp(int(h) * 3600, dt.UTC).astimezone(tz).utcoffset()
                            .total_seconds()) for h in hours], np.int64)
    local_s = utc_s + offsets[where.reshape(-1)]
    days = (local_s // 86400).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12          # 0-based
    day = (days - months).astype(np.int64)        # 0-based
    seconds = local_s % 86400
    return ((((year % 100) * 12 * 31 + month * 31 + day) * 86400) + seconds).astype(np.uint32)


class PullDevice:
    """The terminal as the protocol sees it. Safe to use from many connection threads."""

    def __init__(self, store: Store, *, timezone: Callable[[], ZoneInfo], library=None,
                 set_clock: Callable[[str, str], str] | None = None):
        self.store = store
        self.timezone = timezone
        self.library = library
        self.set_clock = set_clock

    # -- reading ---------------------------------------------------------------------------------
    def counts(self) -> Counts:
        with self.store.engine.connect() as conn:
            users = conn.execute(select(func.count()).select_from(Staff).where(Staff.zk_uid <= ZK_UID_MAX)).scalar_one()
            faces = conn.execute(select(func.count(func.distinct(FaceTemplate.staff_id)))).scalar_one()
        records = queries.count(self.store, queries.PunchFilter.days(*ALL_DAYS))
        return Counts(int(users), int(records), int(faces))

    def _staff(self) -> list[tuple[int, int, str, str]]:
        """(id, uid, staff no, name) of the staff the protocol can number (uid up to 65,535)."""
        with self.store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(Staff.id, Staff.zk_uid, Staff.staff_no, Staff.name)
                .where(Staff.zk_uid <= ZK_UID_MAX).order_by(Staff.zk_uid))]

    def users(self) -> bytes:
        """Every staff member as a 72-byte user record, in uid order."""
        return b"".join(p.user_record(uid, name, no) for _id, uid, no, name in self._staff())

    def attendance(self) -> bytes:
        """Every stored punch as a 40-byte record, in the store's order (local date, time, id).

        Built as columns (``queries.punch_columns``: on SQLite the core reads the covering index)
        into one numpy record array: 50,000 punches take milliseconds, not a second of Python.
        """
        staff = self._staff()
        c = queries.punch_columns(self.store, *ALL_DAYS)
        n = len(c)
        out = np.zeros(n, ATTENDANCE_DTYPE)
        if n == 0:
            return out.tobytes()
        uid_of = np.zeros(max((sid for sid, *_ in staff), default=0) + 1, np.uint16)
        for staff_id, uid, _no, _name in staff:
            uid_of[staff_id] = uid
        known = (c.staff_id >= 0) & (c.staff_id < len(uid_of))
        out["uid"] = np.where(known, uid_of[np.where(known, c.staff_id, 0)], 0)
        person_ids = np.array([p.fit_utf8(no, p.USER_ID_BYTES) for no, _name in c.people], "S24")
        out["user_id"] = person_ids[c.person]
        verify = np.array([p.VERIFY_FACE if src == "face" else 0 for src in c.sources], np.uint8)
        out["verify"] = verify[c.source]
        out["time"] = _encoded_local_times(c.punched_at_us, self.timezone())
        return out.tobytes()

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone()).replace(tzinfo=None, microsecond=0)

    # -- writes (each behind a setting, each audited by the caller) -------------------------------
    def set_time(self, local: dt.datetime) -> str:
        if self.set_clock is None:
            raise WriteRefused("this terminal cannot set its clock")
        return self.set_clock(local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S"))

    def write_user(self, record: bytes, actor: str) -> str:
        """Add or rename a user from a 72-byte record; what was done (WriteRefused if not)."""
        if len(record) < p.USER_RECORD.size:
            raise WriteRefused(f"a user record has {p.USER_RECORD.size} bytes, got {len(record)}")
        uid, _priv, _pw, raw_name, _card, _group, raw_id = p.USER_RECORD.unpack_from(record)
        try:
            name = check_person_name(raw_name.split(b"\x00")[0].decode("utf-8"))
            staff_no = check_staff_no(raw_id.split(b"\x00")[0].decode("utf-8").strip())
        except (UnicodeDecodeError, BadName) as exc:
            raise WriteRefused(str(exc)) from exc
        with self.store.session() as s:
            by_uid = s.scalar(select(Staff).where(Staff.zk_uid == uid))
            by_no = s.scalar(select(Staff).where(Staff.staff_no == staff_no))
            if by_uid is not None and by_uid is not by_no:
                raise WriteRefused(f"uid {uid} is {by_uid.staff_no}, not {staff_no}")
            if by_no is not None and by_uid is None:
                raise WriteRefused(f"{staff_no} has uid {by_no.zk_uid}, not {uid}")
            if by_uid is not None:
                old = by_uid.name
                by_uid.name = name
                self.store.audit(s, actor, "zk_pull_rename_user", staff_no=staff_no, old=old, new=name)
                return f"renamed {staff_no}"
            s.add(Staff(staff_no=staff_no, name=name, zk_uid=uid))
            self.store.audit(s, actor, "zk_pull_create_user", staff_no=staff_no, name=name, uid=uid)
            return f"created {staff_no}"

    def delete_user(self, uid: int, actor: str) -> str:
        """Delete a user and their faces (through the face library, so the gallery forgets them)."""
        with self.store.session() as s:
            staff = s.scalar(select(Staff).where(Staff.zk_uid == uid))
            if staff is None:
                raise WriteRefused(f"no user has uid {uid}")
            staff_id, staff_no = staff.id, staff.staff_no
            templates = list(s.scalars(select(FaceTemplate.id).where(FaceTemplate.staff_id == staff_id)))
        if templates and self.library is None:
            raise WriteRefused("no face library in this process to remove the faces with")
        for template in templates:
            self.library.remove_template(template, actor=actor)
        with self.store.session() as s:
            staff = s.get(Staff, staff_id)
            if staff is not None:
                s.delete(staff)
            self.store.audit(s, actor, "zk_pull_delete_user", staff_no=staff_no, uid=uid,
                             templates=len(templates))
        return f"deleted {staff_no}"

    def audit(self, actor: str, action: str, **detail) -> None:
        with self.store.session() as s:
            self.store.audit(s, actor, action, **detail)

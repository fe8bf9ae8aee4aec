"""What the ADMS link reads and writes in Daka's store: its cursors, the punch and audit lines it
sends, and the staff changes a server's USERINFO commands make.

The lines are built from the stored rows each time (never kept elsewhere), so the link and the
signed webhook send the same punches, each from its own cursor.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.library.names import check_person_name, check_staff_no
from app.library.names import photo_path as stored_photo
from app.store import AdmsCursor, AuditEntry, FaceTemplate, Punch, Staff, Store

from . import protocol

ACTOR = "adms"
# How long a hole in the punch ids may still be filled by a transaction committing late (PostgreSQL).
GAP_WAIT = dt.timedelta(seconds=30)
# Audit actions that change a person: sent as USER lines (the person as stored now).
USER_ACTIONS = {"create_staff", "edit_staff", "enroll", "activate_staff", "deactivate_staff"}
# Admin actions sent as OPLOG lines, with ZKTeco's operation codes.
OPLOG_CODES = {"login": 4, "setting": 5, "setting_reset": 5, "restore_ntp": 5, "set_time": 21,
               "delete_staff": 9, "remove_template": 10, "create_staff": 30, "clear_range": 13,
               "restore": 13, "create_user": 5, "delete_user": 5, "upload_photos": 30}


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


@dataclass(frozen=True)
class Batch:
    last_id: int          # the cursor after this batch is acknowledged
    lines: list[str]
    rows: int             # rows read (some may give no line)


class AdmsData:
    def __init__(self, store: Store, timezone: Callable[[], str]):
        self.store = store
        self._timezone = timezone
        # Only this link moves its cursors (one terminal per instance): the values it read or
        # wrote are kept, so the twice-a-second look for new punches is one query, not three.
        self._cursors: dict[str, int] = {}

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self._timezone())

    # -- cursors -----------------------------------------------------------
    def cursor(self, table: str) -> int:
        if table not in self._cursors:
            with self.store.session() as s:
                row = s.get(AdmsCursor, table)
                self._cursors[table] = row.position if row else 0
        return self._cursors[table]

    def set_cursor(self, table: str, position: int) -> None:
        self._cursors.pop(table, None)   # re-read if the write fails
        with self.store.session() as s:
            row = s.get(AdmsCursor, table)
            if row is None:
                s.add(AdmsCursor(table=table, position=position))
            else:
                row.position = position
        self._cursors[table] = position

    # -- punches -------------------------------------------------------------
    def max_punch_id(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.max(Punch.id))) or 0

    def punches_waiting(self, cursor: int) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(Punch).where(Punch.id > cursor)) or 0

    def _attlog(self, p: Punch, tz: ZoneInfo) -> str:
        local = _utc(p.punched_at).astimezone(tz)
        verify = protocol.VERIFY_FACE if p.source == "face" else protocol.VERIFY_OTHER
        return protocol.attlog_line(p.staff_no, local, status=p.status or 0, verify=verify)

    def punches_after(self, cursor: int, limit: int, *, now: dt.datetime | None = None) -> Batch:
        tz = self.tz
        with self.store.session() as s:
            rows = s.scalars(select(Punch).where(Punch.id > cursor).order_by(Punch.id).limit(limit)).all()
            rows = self._settled(rows, cursor, now or dt.datetime.now(dt.UTC).replace(tzinfo=None))
            lines = [self._attlog(p, tz) for p in rows]
        return Batch(rows[-1].id if rows else cursor, lines, len(rows))

    def _settled(self, rows: list[Punch], cursor: int, now: dt.datetime) -> list[Punch]:
        """The rows up to the first young gap in the ids.

        On PostgreSQL ids come from a sequence, so a transaction holding a smaller id (an admin's
        make-up approved during a flush) may commit after a larger one: a cursor moved past the
        larger id would skip it forever. A missing id followed by a row younger than GAP_WAIT is
        waited for; an older gap is a real one (a replayed insert, a deleted punch). SQLite
        hands out ids under its write lock, in commit order: no gap there ever fills later.
        """
        if self.store.dialect == "sqlite":
            return rows
        expected = cursor + 1
        for i, row in enumerate(rows):
            if row.id != expected and row.created_at > now - GAP_WAIT:
                return rows[:i]
            expected = row.id + 1
        return rows

    def punches_between(self, start: dt.datetime, end: dt.datetime, limit: int) -> list[str]:
        """Punches with ``start <= local time <= end`` (naive local times), oldest first."""
        tz = self.tz
        lo = start.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
        hi = end.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
        with self.store.session() as s:
            rows = s.scalars(select(Punch).where(Punch.punched_at >= lo, Punch.punched_at <= hi)
                             .order_by(Punch.punched_at, Punch.id).limit(limit)).all()
            return [self._attlog(p, tz) for p in rows]

    # -- operation log -------------------------------------------------------
    def max_audit_id(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.max(AuditEntry.id))) or 0

    def operlog_after(self, cursor: int, limit: int) -> Batch:
        tz = self.tz
        with self.store.session() as s:
            rows = s.scalars(select(AuditEntry).where(AuditEntry.id > cursor)
                             .order_by(AuditEntry.id).limit(limit)).all()
            lines: list[str] = []
            for entry in rows:
                if entry.actor == ACTOR:   # the server's own commands are not echoed back
                    continue
                try:
                    detail = json.loads(entry.detail or "{}")
                except ValueError:
                    detail = {}
                local = _utc(entry.at).astimezone(tz)
                staff_no = str(detail.get("staff_no") or "") if isinstance(detail, dict) else ""
                if entry.action in OPLOG_CODES:
                    lines.append(protocol.oplog_line(OPLOG_CODES[entry.action], entry.actor, local,
                                                     staff_no or "0", entry.action))
                if entry.action in USER_ACTIONS and staff_no:
                    staff = s.scalar(select(Staff).where(Staff.staff_no == staff_no))
                    if staff is not None:
                        lines.append(protocol.user_line(staff.staff_no, staff.name))
        return Batch(rows[-1].id if rows else cursor, lines, len(rows))

    def user_lines(self, pin: str | None = None) -> list[str]:
        with self.store.session() as s:
            query = select(Staff).order_by(Staff.id)
            if pin:
                query = query.where(Staff.staff_no == pin)
            return [protocol.user_line(st.staff_no, st.name) for st in s.scalars(query)]

    def counts(self) -> tuple[int, int, int]:
        """Staff, enrolled photos, stored punches (for INFO and table=options)."""
        with self.store.session() as s:
            users = s.scalar(select(func.count()).select_from(Staff)) or 0
            faces = s.scalar(select(func.count(func.distinct(FaceTemplate.photo_file)))) or 0
            punches = s.scalar(select(func.count()).select_from(Punch)) or 0
        return users, faces, punches

    # -- staff (USERINFO commands) -------------------------------------------
    def staff_name(self, pin: str) -> str | None:
        with self.store.session() as s:
            return s.scalar(select(Staff.name).where(Staff.staff_no == pin))

    def upsert_staff(self, pin: str, name: str) -> str:
        """Create or rename a person; "created", "updated" or "unchanged". BadName when invalid."""
        pin = check_staff_no(pin)
        with self.store.session() as s:
            staff = s.scalar(select(Staff).where(Staff.staff_no == pin))
            if staff is None:
                name = check_person_name(name)
                s.add(Staff(staff_no=pin, name=name))
                self.store.audit(s, ACTOR, "create_staff", staff_no=pin, name=name)
                return "created"
            if not name or name == staff.name:   # servers often send the name empty
                return "unchanged"
            name = check_person_name(name)
            old = staff.name
            staff.name = name
            self.store.audit(s, ACTOR, "edit_staff", staff_no=pin, old={"name": old}, new={"name": name})
            return "updated"

    def delete_staff(self, pin: str, photos_dir) -> int | None:
        """Delete a person, their templates and photos (punches stay, unlinked); their id, or None."""
        with self.store.session() as s:
            staff = s.scalar(select(Staff).where(Staff.staff_no == pin))
            if staff is None:
                return None
            staff_id = staff.id
            photos = sorted({t.photo_file for t in staff.templates})
            self.store.audit(s, ACTOR, "delete_staff", staff_no=staff.staff_no, name=staff.name,
                             templates=len(photos))
            s.delete(staff)
        for name in photos:
            path = stored_photo(photos_dir, name) if photos_dir is not None else None
            if path is not None:
                path.unlink(missing_ok=True)
        return staff_id

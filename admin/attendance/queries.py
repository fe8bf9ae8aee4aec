"""Attendance queries shared by the pages, the exports and the JSON API."""

from __future__ import annotations

import datetime as dt
import functools
import json
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import (DateTime, Interval, LargeBinary, String, Text, bindparam, cast, func, literal, or_, select,
                        tuple_)

from app.attendance.queries import keyset_batches
from app.attendance.summary import person_days
from app.store import Punch, Staff


class BadRange(ValueError):
    pass


TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
# The dates a query may name. Python's datetime ends at years 1 and 9999, so a day's end or a
# zone shift at either edge overflows; no punch is ever that old or that far ahead.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(9998, 12, 31)


def check_date(day: dt.date) -> dt.date:
    if not FIRST_DATE <= day <= LAST_DATE:
        raise BadRange(f"{day.isoformat()} is out of range ({FIRST_DATE.year} to {LAST_DATE.year})")
    return day


def parse_local(text: str, tz: zoneinfo.ZoneInfo, *, end: bool = False) -> dt.datetime:
    """A terminal-local time as naive UTC; a bare date is the start (or, with end, the end) of it."""
    text = (text or "").strip()
    for fmt in TIME_FORMATS:
        try:
            t = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        check_date(t.date())
        if end:  # the end is inclusive to its last unit: a day, a minute or a second
            t += {"%Y-%m-%d": dt.timedelta(days=1)}.get(fmt, dt.timedelta(minutes=1) if fmt.endswith("%M")
                                                        else dt.timedelta(seconds=1))
        return t.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
    raise BadRange(f"{text!r} is not a time like 2022-04-18 15:56:00")


@dataclass(frozen=True)
class PunchFilter:
    start_utc: dt.datetime
    end_utc: dt.datetime       # exclusive
    staff: str = ""            # staff no or part of a name
    department: str = ""

    def where(self) -> list:
        w = [Punch.punched_at >= self.start_utc, Punch.punched_at < self.end_utc]
        if self.staff:
            like = f"%{_escape(self.staff)}%"
            w.append(or_(Punch.staff_no == self.staff, Punch.name.like(like, escape="\\")))
        if self.department:
            w.append(Punch.staff_id.in_(select(Staff.id).where(Staff.department == self.department)))
        return w


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def day_filter(first: dt.date, last: dt.date, tz, **kw) -> PunchFilter:
    check_date(first)
    check_date(last)
    if last < first:
        raise BadRange("the end date is before the start date")
    start = dt.datetime.combine(first, dt.time()).replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()).replace(tzinfo=tz)
    return PunchFilter(start, end.astimezone(dt.UTC).replace(tzinfo=None), **kw)


def count(session, f: PunchFilter) -> int:
    return session.scalar(select(func.count()).select_from(Punch).where(*f.where()))


def page(session, f: PunchFilter, *, offset: int = 0, limit: int | None = 50) -> list[Punch]:
    q = select(Punch).where(*f.where()).order_by(Punch.punched_at, Punch.id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q))


def iter_punches(store, f: PunchFilter, *, batch: int = 5000) -> Iterator[tuple]:
    """(staff no, name, UTC time, source, device id) of the filtered punches in time order.

    Fetched ``batch`` rows at a time by keyset on (punched_at, id) (``keyset_batches``): memory
    stays flat for a range of any size (an export of a year), and no read transaction stays
    open while a slow client downloads.
    """
    columns = (Punch.staff_no, Punch.name, Punch.punched_at, Punch.source, Punch.device_id, Punch.id)

    def query_after(after: tuple | None):
        q = select(*columns).where(*f.where())
        if after is not None:
            q = q.where(tuple_(Punch.punched_at, Punch.id) > tuple_(*after))
        return q.order_by(Punch.punched_at, Punch.id)

    for rows in keyset_batches(store, query_after, lambda r: (r[2], r[5]), batch):
        for r in rows:
            yield r[:5]


def local_time(p: Punch, tz) -> str:
    return p.punched_at.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class DayRow:
    date: dt.date
    staff_no: str
    name: str
    department: str
    first: str | None
    last: str | None
    count: int

    @property
    def state(self) -> str:
        return "missing" if self.count == 0 else ("single" if self.count == 1 else "ok")


def daily_summary(store, first: dt.date, last: dt.date, tz, *, staff: str = "",
                  department: str = "") -> list[DayRow]:
    """Per active staff member and day: first in, last out, count; no punch = missing.

    The punches are read as columns and reduced per person-day with numpy
    (app/attendance/summary.py): a month for 1,000 staff makes no Python object per punch.
    """
    check_date(first)
    check_date(last)
    if last < first:
        raise BadRange("the end date is before the start date")
    people = select(Staff).where(Staff.active.is_(True))
    if staff:
        people = people.where(or_(Staff.staff_no == staff, Staff.name.like(f"%{_escape(staff)}%", escape="\\")))
    if department:
        people = people.where(Staff.department == department)
    with store.session() as s:
        staff_rows = [(st.id, st.staff_no, st.name, st.department)
                      for st in s.scalars(people.order_by(Staff.staff_no))]
    seen = person_days(store, first, last, staff_id=staff_rows[0][0] if len(staff_rows) == 1 else None)
    hhmm = (lambda t: t.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%H:%M:%S"))
    out = []
    day = first
    while day <= last:
        for sid, no, name, dept in staff_rows:
            r = seen.get((sid, day))
            out.append(DayRow(day, no, name, dept, hhmm(r.first_utc) if r else None,
                              hhmm(r.last_utc) if r and r.count > 1 else None, r.count if r else 0))
        day += dt.timedelta(days=1)
    return out


def local_time_of(utc_naive: dt.datetime | None, tz) -> str | None:
    if utc_naive is None:
        return None
    return utc_naive.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


class LocalTimes:
    """Format many UTC times as terminal-local text; the zone offset is looked up once per slot."""

    MAX_SLOTS = 1024  # bounded: over a range of years, each punch may have a slot of its own

    def __init__(self, tz):
        self.tz = tz
        self._offsets: dict[tuple, dt.timedelta] = {}

    def __call__(self, utc_naive: dt.datetime) -> str:
        # Zone offsets are whole quarter hours and change at whole local hours, so a change never
        # falls inside a quarter-hour slot of UTC.
        t = utc_naive
        slot = (t.year, t.month, t.day, t.hour, t.minute // 15)
        offset = self._offsets.get(slot)
        if offset is None:
            if len(self._offsets) >= self.MAX_SLOTS:  # rows come in time order: old slots are done
                self._offsets.clear()
            start = dt.datetime(*slot[:4], slot[4] * 15, tzinfo=dt.UTC)
            offset = self._offsets[slot] = start.astimezone(self.tz).utcoffset()
        return (t + offset).isoformat(" ", "seconds")


def fixed_offset(tz, start_utc: dt.datetime, end_utc: dt.datetime) -> dt.timedelta | None:
    """The zone's offset if it is the same over the whole range, else None.

    Zones change offset at most a few times a year, months apart: within 30 days, equal offsets
    at both ends mean no change in between.
    """
    if end_utc - start_utc > dt.timedelta(days=30):
        return None
    first = start_utc.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset()
    last = end_utc.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset()
    return first if first == last else None


def local_text_column(dialect: str, offset: dt.timedelta):
    """punched_at as terminal-local 'YYYY-MM-DD HH:MM:SS' text, computed by the database."""
    minutes = int(offset.total_seconds() // 60)
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%S", Punch.punched_at, f"{minutes:+d} minutes")
    if dialect == "postgresql":
        return func.to_char(Punch.punched_at + offset, "YYYY-MM-DD HH24:MI:SS")
    return None


def database_offset(tz, start_utc: dt.datetime, end_utc: dt.datetime) -> dt.timedelta | None:
    """The offset the database may add to format local times: the same over the range and whole
    minutes (local mean times before 1900, such as Shanghai's +08:05:43, are not); else None."""
    offset = fixed_offset(tz, start_utc, end_utc)
    return None if offset is None or offset % dt.timedelta(minutes=1) else offset


def punch_rows(conn, f: PunchFilter, tz) -> list[tuple[str, str, str]]:
    """(name, staff no, local time text) of the punches, in time order."""
    offset = database_offset(tz, f.start_utc, f.end_utc)
    column = local_text_column(conn.dialect.name, offset) if offset is not None else None
    order = (Punch.punched_at, Punch.id)
    if column is not None:  # the usual case: the database formats, Python only passes rows on
        return conn.execute(select(Punch.name, Punch.staff_no, column).where(*f.where()).order_by(*order)).all()
    local = LocalTimes(tz)
    rows = conn.execute(select(Punch.name, Punch.staff_no, Punch.punched_at).where(*f.where()).order_by(*order))
    return [(n, no, local(t)) for n, no, t in rows]


def punches_json_stream(store, f: PunchFilter, tz, *, batch: int = 2000) -> Iterator[bytes]:
    """The answer of :func:`punches_json` for any range, as UTF-8 pieces made batch by batch.

    For ranges the database cannot format itself (longer than 30 days, or across a zone change):
    memory stays that of one batch whatever the range holds, where a list of every row of a
    100-year range took hundreds of MB. The bytes are those of Flask's jsonify.
    """
    local = LocalTimes(tz)
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    yield b"["
    sep = ""
    for no, name, at, _source, _device in iter_punches(store, f, batch=batch):
        yield (sep + dumps({"name": name, "staff_id": no, "attend_time": local(at)})).encode()
        sep = ","
    yield b"]\n"


# The seed's answer of /api/get_attend_infos, built by the database as one JSON text: no Python
# object per row. The keys, their order and the compact separators are those of Flask's jsonify
# with the admin's settings (ensure_ascii off), so the bytes are the same as the Python path's.
# One statement per dialect, built once: a request only binds the range and the zone's offset.
_START = bindparam("start_utc", type_=DateTime)
_END = bindparam("end_utc", type_=DateTime)
_IN_RANGE = (Punch.punched_at >= _START, Punch.punched_at < _END)


def _sqlite_json():
    # datetime() gives "YYYY-MM-DD HH:MM:SS" as strftime with that format does, in less time.
    local = func.datetime(Punch.punched_at, bindparam("shift", type_=String))
    rows = (select(Punch.name, Punch.staff_no, local.label("attend_time")).where(*_IN_RANGE)
            .order_by(Punch.punched_at, Punch.id).subquery())
    # An aggregate over an ordered subquery: SQLite does not flatten it and aggregates in that order.
    array = func.json_group_array(func.json_object(
        "name", rows.c.name, "staff_id", rows.c.staff_no, "attend_time", rows.c.attend_time))
    return select(cast(array, LargeBinary))  # the UTF-8 bytes as they are: no decoding, no encoding again


def _postgresql_json():
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    def quoted(col):  # to_json escapes text exactly as Python's json does with ensure_ascii off
        return func.coalesce(cast(func.to_json(col), Text), literal("null"))

    local = func.to_char(Punch.punched_at + bindparam("shift", type_=Interval), "YYYY-MM-DD HH24:MI:SS")
    item = (literal('{"name":') + quoted(Punch.name) + literal(',"staff_id":') + quoted(Punch.staff_no)
            + literal(',"attend_time":"') + local + literal('"}'))
    joined = func.string_agg(item, aggregate_order_by(literal(","), Punch.punched_at, Punch.id))
    array = literal("[") + func.coalesce(joined, literal("")) + literal("]")
    return select(func.convert_to(array, literal("UTF8"), type_=LargeBinary)).where(*_IN_RANGE)


_JSON_BUILDERS = {"sqlite": _sqlite_json, "postgresql": _postgresql_json}
_json_statements: dict[str, object] = {}


def punches_json(conn, start_utc: dt.datetime, end_utc: dt.datetime, tz) -> bytes | None:
    """``[{"name", "staff_id", "attend_time"}, ...]`` of the punches in [start, end) as UTF-8 JSON
    made by the database, in time order.

    None when the database cannot format the local times itself (see :func:`database_offset`;
    another database): the caller then streams :func:`punches_json_stream`.
    """
    offset = database_offset(tz, start_utc, end_utc)
    dialect = conn.dialect.name
    if offset is None or dialect not in _JSON_BUILDERS:
        return None
    statement = _json_statements.get(dialect)
    if statement is None:
        statement = _json_statements[dialect] = _JSON_BUILDERS[dialect]()
    shift = f"{int(offset.total_seconds() // 60):+d} minutes" if dialect == "sqlite" else offset
    return bytes(conn.execute(statement, {"start_utc": start_utc, "end_utc": end_utc, "shift": shift}).scalar_one())

"""Per person and day: first punch, last punch, number of punches — and the admin's daily summary
(:func:`daily_summary`), by stored local date, with each day's status from the attendance rules
(:mod:`app.attendance.rules`).

On a SQLite file they are computed from :func:`app.attendance.queries.punch_columns` with numpy:
the columns come in (local date, time, id) order, so within one person's day the first occurrence
is the first punch and the last occurrence the last one; no Python object is made per punch, only
per person-day. A PostgreSQL server aggregates faster itself (GROUP BY; measured by
`daka bench store`), so there the query does it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from sqlalchemy import func, or_, select

from app.store import Punch, Staff, Store

from . import queries
from .queries import EPOCH, PunchFilter, punch_columns
from .rules.engine import DayResult, compute_days

_DAY_BITS = 22  # local dates as days since 1970 stay below 2**22 (year 9999 is day 2,932,896)


class PersonDay(NamedTuple):
    first_utc: dt.datetime  # naive UTC
    last_utc: dt.datetime
    count: int


def person_days(store: Store, first: dt.date, last: dt.date, *, staff_id: int | None = None,
                source: str = "", device_id: str = "") -> dict[tuple[int, dt.date], PersonDay]:
    """(staff id, local date) -> first and last punch and count, for punches of known staff.

    ``source`` / ``device_id`` count only the punches of that source or device (by the
    database's GROUP BY: the columns carry neither the device nor a filter on it).
    """
    if queries._native_reader(store) is None or source or device_id:
        return person_days_grouped(store, first, last, staff_id, source=source, device_id=device_id)
    cols = punch_columns(store, first, last, staff_id=staff_id)
    known = cols.staff_id >= 0
    staff, day, at = cols.staff_id[known].astype(np.int64), cols.day[known].astype(np.int64), cols.punched_at_us[known]
    if len(staff) == 0:
        return {}
    key = (staff << _DAY_BITS) | (day - day.min())
    keys, first_index, counts = np.unique(key, return_index=True, return_counts=True)
    # the last occurrence of each key: the first in the reversed array
    _, last_from_end = np.unique(key[::-1], return_index=True)
    last_index = len(key) - 1 - last_from_end
    epoch = dt.datetime(1970, 1, 1)
    us = dt.timedelta(microseconds=1)
    out = {}
    for s, d, f, l, n in zip(staff[first_index].tolist(), day[first_index].tolist(), at[first_index].tolist(),
                             at[last_index].tolist(), counts.tolist()):
        out[(s, EPOCH + dt.timedelta(days=d))] = PersonDay(epoch + f * us, epoch + l * us, n)
    return out


def person_days_grouped(store: Store, first: dt.date, last: dt.date, staff_id: int | None = None, *,
                        source: str = "", device_id: str = "") -> dict[tuple[int, dt.date], PersonDay]:
    """:func:`person_days` by the database's GROUP BY (PostgreSQL; the benchmark's baseline)."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    f = PunchFilter(first=first, last=last, staff_id=staff_id, source=source, device_id=device_id)
    query = (select(Punch.staff_id, Punch.local_date, func.min(Punch.punched_at), func.max(Punch.punched_at),
                    func.count())
             .where(*f.where(), Punch.staff_id.is_not(None))
             .group_by(Punch.staff_id, Punch.local_date))
    with store.engine.connect() as conn:
        return {(sid, day): PersonDay(lo, hi, n) for sid, day, lo, hi, n in conn.execute(query)}


@dataclass(frozen=True)
class DayRow:
    date: dt.date
    staff_no: str
    name: str
    department: str
    first: str | None
    last: str | None
    count: int
    # the attendance rules' verdict (app.attendance.rules); None where no schedule applies
    day: DayResult | None = None
    devices: tuple[str, ...] = ()   # the devices of that person-day's punches (issue 20)

    @property
    def presence(self) -> str:
        """What the punches alone say: ok (two or more), single, missing (none)."""
        return "missing" if self.count == 0 else ("single" if self.count == 1 else "ok")

    @property
    def state(self) -> str:
        """The rules' status (late, early, absent, rest, leave, ...) where a schedule applies, else
        the punches' presence: a Sunday off is 休息, not 缺卡, and 09:22 in is 迟到, not 正常."""
        if self.day is not None and self.day.status != "unscheduled":
            return self.day.status
        return self.presence


def _summary_people(store: Store, f: PunchFilter) -> list[tuple]:
    """(id, staff no, name, department, hire date, leave date) of the people ``f`` chooses, employed
    on a day of its range (as app.attendance.rules counts them), by staff number."""
    people = select(Staff.id, Staff.staff_no, Staff.name, Staff.department, Staff.hire_date, Staff.leave_date) \
        .where(or_(Staff.active.is_(True), Staff.leave_date.is_not(None)),
               or_(Staff.hire_date.is_(None), Staff.hire_date <= f.last),
               or_(Staff.leave_date.is_(None), Staff.leave_date >= f.first))
    if f.staff:
        like = f"%{queries.escape_like(f.staff)}%"
        people = people.where(or_(Staff.staff_no == f.staff, Staff.name.like(like, escape="\\")))
    if f.department:
        people = people.where(Staff.department == f.department)
    if "\x00" in f.staff + f.department:  # no one's number, name or department holds a NUL
        return []
    with store.session() as s:
        return [tuple(r) for r in s.execute(people.order_by(Staff.staff_no))]


def _employed(person: tuple, day: dt.date) -> bool:
    hire, leave = person[4], person[5]
    return (hire is None or hire <= day) and (leave is None or day <= leave)


def daily_summary_count(store: Store, f: PunchFilter) -> int:
    """How many rows :func:`daily_summary` has for ``f`` (for its pages)."""
    people = _summary_people(store, f)
    return sum(1 for day in _days(f) for p in people if _employed(p, day))


def _days(f: PunchFilter):
    day = f.first
    while day <= f.last:
        yield day
        day += dt.timedelta(days=1)


def daily_summary(store: Store, f: PunchFilter, tz, *, offset: int = 0, limit: int | None = None,
                  now: dt.datetime | None = None) -> list[DayRow]:
    """Per staff member employed that day and stored local date of ``f``: first in, last out,
    count, and the attendance rules' status of the day; rows by date, then staff number.

    ``f.staff`` and ``f.department`` choose the people; ``f.source`` and ``f.device_id`` the
    punches counted (the rules' status always reads every punch). ``offset`` / ``limit`` give one
    page: only that page's days and people are computed. The punches are reduced per person-day
    with numpy (:func:`person_days`): a month for 1,000 staff makes no Python object per punch.
    Times are shown in ``tz``.
    """
    if not f.by_day:
        raise ValueError("a daily summary is by day")
    people = _summary_people(store, f)
    wanted: list[tuple[dt.date, tuple]] = []
    seen = 0
    for day in _days(f):
        for p in people:
            if not _employed(p, day):
                continue
            if seen >= offset and (limit is None or len(wanted) < limit):
                wanted.append((day, p))
            seen += 1
        if limit is not None and len(wanted) >= limit:
            break
    if not wanted:
        return []
    first, last = wanted[0][0], wanted[-1][0]
    ids = sorted({p[0] for _d, p in wanted})
    seen_punches = person_days(store, first, last, staff_id=ids[0] if len(ids) == 1 else None,
                               source=f.source, device_id=f.device_id)
    verdicts = {(pd.staff_id, r.date): r
                for pd in compute_days(store, first, last, tz, staff_ids=ids, now=now) for r in pd.days}
    devices = queries.devices_by_person_day(store, first, last, ids)
    hhmm = (lambda t: t.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%H:%M:%S"))
    out = []
    for day, (sid, no, name, dept, _hire, _leave) in wanted:
        r = seen_punches.get((sid, day))
        out.append(DayRow(day, no, name, dept, hhmm(r.first_utc) if r else None,
                          hhmm(r.last_utc) if r and r.count > 1 else None, r.count if r else 0,
                          verdicts.get((sid, day)), devices.get((sid, day), ())))
    return out


def iter_daily_summary(store: Store, f: PunchFilter, tz, *, chunk_days: int = 31):
    """The rows of :func:`daily_summary`, computed ``chunk_days`` at a time (exports of a year for
    everyone hold a month's rows in memory, not the year's)."""
    first = f.first
    while first <= f.last:
        last = min(f.last, first + dt.timedelta(days=chunk_days - 1))
        yield from daily_summary(store, replace(f, first=first, last=last), tz)
        first = last + dt.timedelta(days=1)

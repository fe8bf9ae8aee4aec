"""Day statuses from punches and rules: the computation behind every report.

Per person and day: which shift applies (:mod:`.plan`), which punches belong to that working day
(a night shift's punches after midnight belong to the day the shift started), and what they
make: 正常, 迟到, 早退, 缺卡, 旷工, 加班, 请假, 休息 (or no row before the hire date and after the
leave date). Computed on read from the stored punches (make-up punches are stored punches), so a
change of rules, schedules, leave or punches shows at the next read.

All times are whole minutes from 1970-01-01 00:00 *local* (the terminal's zone): a punch at
09:05:59 is 09:05, as the terminal shows it.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from app import i18n
from app.attendance.queries import EPOCH, punch_columns
from app.store import Store

from .plan import RulesSnapshot, load_rules
from .shifts import DAY, EARLY_WINDOW_MIN, ShiftRule

STATUSES = ("normal", "late", "early", "missing", "absent", "overtime", "leave", "rest", "upcoming",
            "unscheduled")
# After a shift's end, out punches (overtime) still count for its day this long before a rest day's.
LATE_WINDOW_MIN = 240
_EPOCH_DT = dt.datetime(1970, 1, 1)


def hhmm(m: int) -> str:
    m %= DAY
    return f"{m // 60:02d}:{m % 60:02d}"


def at_of(m: int) -> dt.datetime:
    return _EPOCH_DT + dt.timedelta(minutes=m)


@dataclass(slots=True)
class DayResult:
    """One person's working day. Minutes are whole minutes; ``first_in`` / ``last_out`` local."""

    date: dt.date
    status: str
    shift: str = ""
    punches: int = 0
    first_min: int | None = None   # local minutes since 1970 (see first_in / last_out)
    last_min: int | None = None
    late_min: int = 0
    early_min: int = 0
    missing: int = 0          # punches missing (缺卡 count)
    overtime_min: int = 0
    worked_min: int = 0
    leave_kind: str = ""
    due: bool = False         # a working day (应出勤), leave days included
    reasons: list = field(default_factory=list)  # (catalogue key, values; times as local minutes)

    @property
    def first_in(self) -> dt.datetime | None:
        return None if self.first_min is None else at_of(self.first_min)

    @property
    def last_out(self) -> dt.datetime | None:
        return None if self.last_min is None else at_of(self.last_min)

    def status_text(self, language: str | None = None) -> str:
        return status_text(self.status, language)

    def reason(self, language: str | None = None) -> str:
        """Why the day is what it is, in words HR reads (zh or en)."""
        values = [(k, {n: _shown(n, x, language) for n, x in v.items()}) for k, v in self.reasons]
        glue = "; " if i18n.language_of(language) == "en" else "；"
        return glue.join(i18n.text(k, language, **v) for k, v in values)

    def mark(self, language: str | None = None) -> str:
        """The grid's short mark: 迟 / 早 / 缺 / 旷 / 加 / 假 kind / 休 …"""
        if self.status == "leave":
            return i18n.text(f"attendance.leave_mark.{self.leave_kind}", language)
        if self.status in ("late", "early", "missing") and self.late_min and self.early_min:
            return i18n.text("attendance.mark.late", language) + i18n.text("attendance.mark.early", language)
        text = i18n.text(f"attendance.mark.{self.status}", language)
        if self.overtime_min and self.status != "overtime":
            text += "+" + i18n.text("attendance.mark.overtime", language)
        return text


TIME_VALUES = frozenset(("start", "end", "at", "first", "last"))


def _shown(name: str, value, language):
    if name in TIME_VALUES:
        return hhmm(value)
    if name == "kind":
        return leave_text(value, language)
    return value


def status_text(code: str, language: str | None = None) -> str:
    return i18n.text(f"attendance.status.{code}", language)


def leave_text(kind: str, language: str | None = None) -> str:
    return i18n.text(f"attendance.leave.{kind}", language)


@dataclass(slots=True)
class PersonDays:
    staff_id: int
    staff_no: str
    name: str
    department: str
    hire_date: dt.date | None
    leave_date: dt.date | None
    days: list[DayResult]


# -- punches -------------------------------------------------------------------------------------

def local_minutes_by_staff(store: Store, first: dt.date, last: dt.date, tz,
                           staff_id: int | None = None) -> dict[int, list[int]]:
    """staff id -> sorted local minutes of each punch stored from ``first`` to ``last``."""
    cols = punch_columns(store, first, last, staff_id=staff_id)
    known = cols.staff_id >= 0
    staff = cols.staff_id[known]
    us = cols.punched_at_us[known]
    if len(staff) == 0:
        return {}
    utc_min = us // 60_000_000
    # Offsets change at whole quarter hours (as LocalTimes has it): one look-up per slot in use.
    slots, where = np.unique(utc_min // 15, return_inverse=True)
    utc0 = _EPOCH_DT.replace(tzinfo=dt.UTC)
    offsets = np.array([(utc0 + dt.timedelta(minutes=q * 15)).astimezone(tz).utcoffset() // dt.timedelta(minutes=1)
                        for q in slots.tolist()], np.int64)
    local = utc_min + offsets[where]
    order = np.lexsort((local, staff))
    staff, local = staff[order], local[order]
    ids, starts = np.unique(staff, return_index=True)
    bounds = starts.tolist() + [len(staff)]
    flat = local.tolist()
    return {sid: flat[bounds[i]:bounds[i + 1]] for i, sid in enumerate(ids.tolist())}


# -- one working day -----------------------------------------------------------------------------

def _work_day(r: DayResult, s: ShiftRule, base: int, p: list[int], now: int) -> None:
    """Fill ``r`` for a scheduled day with shift ``s`` (``base``: the day's midnight) and its punches."""
    st, en = base + s.start, base + s.end
    r.shift = s.name
    r.punches = len(p)
    times = {"shift": s.name, "start": st, "end": en}
    if p:
        r.first_min = p[0]
        if len(p) > 1:
            r.last_min = p[-1]
    if not p:
        if now < en:
            r.status = "upcoming"
            r.reasons.append(("attendance.reason.upcoming", times))
        else:
            r.status = "absent"
            r.reasons.append(("attendance.reason.absent", times))
        return
    in_progress = now < en
    if s.kind == "flexible":
        _flexible(r, s, p, in_progress, times)
    else:
        _fixed(r, s, st, en, p, in_progress, times)
    limit = s.absent_after
    if limit is not None and (r.late_min > limit or r.early_min > limit):
        r.status = "absent"
        r.reasons.append(("attendance.reason.absent_after", {"limit": limit}))
        return
    if r.missing:
        r.status = "missing"
    elif r.late_min:
        r.status = "late"
    elif r.early_min:
        r.status = "early"
    elif in_progress and len(p) < (1 if s.punches == "in" else 2):
        r.status = "upcoming"
        r.reasons.append(("attendance.reason.in_progress", times))
    else:
        r.status = "normal"
        if not r.reasons:
            r.reasons.append(("attendance.reason.normal", {**times, "first": p[0], "last": p[-1]}))


def _fixed(r: DayResult, s: ShiftRule, st: int, en: int, p: list[int], in_progress: bool, times: dict) -> None:
    half = st + en  # twice the shift's midpoint
    if s.punches == "in":
        t_in, t_out, middle = p[0], None, []
    elif p[-1] * 2 <= half:  # every punch in the first half (one punch, or twice at the start): no out
        t_in, t_out, middle = p[0], None, []
    elif p[0] * 2 > half:    # every punch in the second half: no in
        t_in, t_out, middle = None, p[-1], []
    else:
        t_in, t_out, middle = p[0], p[-1], p[1:-1]
    if t_in is None:
        r.missing += 1
        r.reasons.append(("attendance.reason.missing_in", times))
    elif t_in - st > s.late_grace:
        r.late_min += t_in - st
        r.reasons.append(("attendance.reason.late", {**times, "at": t_in, "grace": s.late_grace,
                                                     "minutes": t_in - st}))
    if s.punches != "in":
        if t_out is None:
            if not in_progress:
                r.missing += 1
                r.reasons.append(("attendance.reason.missing_out", times))
        elif en - t_out > s.early_grace:
            r.early_min += en - t_out
            r.reasons.append(("attendance.reason.early", {**times, "at": t_out, "grace": s.early_grace,
                                                          "minutes": en - t_out}))
    lunch = 0
    if s.punches == "four" and s.lunch_start is not None and s.lunch_end is not None:
        base = st - s.start
        ls, le = base + s.lunch_start, base + s.lunch_end
        mid = (ls + le) // 2
        out_l = next((m for m in middle if m <= mid), None)
        back = next((m for m in reversed(middle) if m > mid), None)
        lunch_over = (le if back is None else back) <= (t_out if t_out is not None else en)
        if out_l is None and not (in_progress and r.first_min is not None and r.first_min < ls):
            if t_in is not None and t_in < ls:
                r.missing += 1
                r.reasons.append(("attendance.reason.missing_lunch_out", {"at": ls}))
        elif out_l is not None and ls - out_l > s.early_grace:
            r.early_min += ls - out_l
            r.reasons.append(("attendance.reason.lunch_early", {"at": out_l, "end": ls,
                                                                "minutes": ls - out_l}))
        if back is None:
            if lunch_over and not in_progress and (t_out is None or t_out > le):
                r.missing += 1
                r.reasons.append(("attendance.reason.missing_lunch_in", {"at": le}))
        elif back - le > s.late_grace:
            r.late_min += back - le
            r.reasons.append(("attendance.reason.lunch_late", {"at": back, "start": le,
                                                               "minutes": back - le}))
        if out_l is not None and back is not None:
            lunch = back - out_l
    if t_in is not None and t_out is not None:
        r.worked_min = max(0, t_out - t_in - (lunch or s.break_min))
        if s.overtime_after is not None and t_out - en >= max(1, s.overtime_after):
            r.overtime_min = t_out - en
            r.reasons.append(("attendance.reason.overtime", {"at": t_out, "end": en,
                                                             "minutes": t_out - en}))


def _flexible(r: DayResult, s: ShiftRule, p: list[int], in_progress: bool, times: dict) -> None:
    required = s.required or 0
    if len(p) < 2:
        if not in_progress:
            r.missing += 1
            r.reasons.append(("attendance.reason.missing_out", times))
        return
    worked = max(0, p[-1] - p[0] - s.break_min)
    r.worked_min = worked
    short = required - worked
    if short > s.early_grace and not in_progress:
        r.early_min = short
        r.reasons.append(("attendance.reason.flex_short", {"required": required, "worked": worked,
                                                           "minutes": short}))
    extra = worked - required
    if s.overtime_after is not None and extra >= max(1, s.overtime_after):
        r.overtime_min = extra
        r.reasons.append(("attendance.reason.flex_overtime", {"required": required, "worked": worked,
                                                              "minutes": extra}))


# -- a person's range ----------------------------------------------------------------------------

def _plans_and_spans(rules: RulesSnapshot, sid: int, dept: str, dates: list[dt.date], day0: int):
    """Each day's plan (from the day before to the day after) and where each day's punches start."""
    plans = [rules.plan(sid, dept, date) for date in dates]
    starts = []
    for i in range(1, len(dates)):
        base = (day0 + i) * DAY
        shift, prev = plans[i][0], plans[i - 1][0]
        prev_base = base - DAY
        if shift is not None:
            b = base + shift.start - EARLY_WINDOW_MIN
            if prev is not None:  # back-to-back shifts: halfway between the last end and the next start
                b = max(b, min((prev_base + prev.end + base + shift.start) // 2, base + shift.start))
        else:
            b = base
            if prev is not None:  # a rest day after a shift: its late out punches stay with it
                b = max(b, prev_base + prev.end + LATE_WINDOW_MIN)
        if starts and b < starts[-1]:
            b = starts[-1]
        starts.append(b)
    return plans, starts


def _person(rules: RulesSnapshot, person, first: dt.date, last: dt.date, punches: list[int],
            now: int, dates: list[dt.date], shared: dict) -> list[DayResult]:
    sid, _no, _name, dept, hire, leave = person
    n = (last - first).days + 1
    day0 = (first - EPOCH).days - 1  # plans from the day before to the day after
    # people without a schedule of their own share their department's plan: computed once
    key = ("staff", sid) if sid in rules.by_staff else ("department", dept)
    hit = shared.get(key)
    if hit is None:
        hit = shared[key] = _plans_and_spans(rules, sid, dept, dates, day0)
    plans, starts = hit
    leaves = rules.leaves.get(sid, ())
    out = []
    for i in range(n):
        date = dates[i + 1]
        if (hire is not None and date < hire) or (leave is not None and date > leave):
            continue
        shift, kind, reason = plans[i + 1]
        base = (day0 + i + 1) * DAY
        lo, hi = bisect_left(punches, starts[i]), bisect_left(punches, starts[i + 1])
        p = punches[lo:hi]
        r = DayResult(date, "rest")
        r.reasons.append(reason)
        on_leave = next((lv for lv in leaves if lv[0] <= date <= lv[1]), None) if leaves else None
        if shift is not None:
            r.due = True
            if on_leave is not None:
                r.status, r.leave_kind, r.shift, r.punches = "leave", on_leave[2], shift.name, len(p)
                r.reasons = [("attendance.reason.leave", {"kind": on_leave[2], "note": on_leave[3] or "—"})]
                if p:
                    r.first_min = p[0]
            else:
                # a 调休 working day says so; an ordinary one needs no word of its own
                r.reasons = [] if reason[0] == "attendance.reason.workday" else [reason]
                _work_day(r, shift, base, p, now)
        else:
            r.status = "unscheduled" if kind == "unscheduled" else "rest"
            r.punches = len(p)
            if p:
                r.first_min = p[0]
            if len(p) > 1:
                r.last_min = p[-1]
                if kind != "unscheduled":
                    r.status = "overtime"
                    r.overtime_min = r.worked_min = p[-1] - p[0]
                    r.reasons.append(("attendance.reason.rest_overtime", {"first": p[0], "last": p[-1],
                                                                          "minutes": p[-1] - p[0]}))
            elif p:
                r.reasons.append(("attendance.reason.one_punch", {"at": p[0]}))
        out.append(r)
    return out


def _minutes_of(local: dt.datetime) -> int:
    return (local.replace(tzinfo=None) - _EPOCH_DT) // dt.timedelta(minutes=1)


def compute_days(store: Store, first: dt.date, last: dt.date, tz, *, staff_ids=None, department: str = "",
                 now: dt.datetime | None = None) -> list[PersonDays]:
    """Each person's days from ``first`` to ``last``, by staff number (see the package docs)."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    if now is None:
        now = dt.datetime.now(tz).replace(tzinfo=None)
    rules = load_rules(store, first - dt.timedelta(days=1), last + dt.timedelta(days=1),
                       staff_ids=staff_ids, department=department)
    # employed on at least one day of the range (the rules were read a day wider on each side)
    rules.people = [p for p in rules.people if (p[4] is None or p[4] <= last) and (p[5] is None or p[5] >= first)]
    one = rules.people[0][0] if len(rules.people) == 1 else None
    punches = local_minutes_by_staff(store, first - dt.timedelta(days=1), last + dt.timedelta(days=2), tz,
                                     staff_id=one) if rules.people else {}
    now_min = _minutes_of(now)
    dates = [first + dt.timedelta(days=i) for i in range(-1, (last - first).days + 2)]
    shared: dict = {}
    return [PersonDays(p[0], p[1], p[2], p[3], p[4], p[5],
                       _person(rules, p, first, last, punches.get(p[0], []), now_min, dates, shared))
            for p in rules.people]

"""The month's figures per person (月度考勤汇总), from :func:`compute_days`."""

from __future__ import annotations

import calendar as stdcalendar
import datetime as dt
from dataclasses import dataclass, field

from app.store import Store

from .engine import DayResult, compute_days


@dataclass
class MonthLine:
    staff_id: int
    staff_no: str
    name: str
    department: str
    days: list[DayResult]
    days_due: int = 0          # 应出勤: scheduled working days (leave included)
    days_present: int = 0      # 实出勤: working days with a punch
    late_count: int = 0
    late_min: int = 0
    early_count: int = 0
    early_min: int = 0
    missing: int = 0           # missing punches
    absent_days: int = 0
    overtime_min: int = 0
    rest_days: int = 0
    leave_days: dict[str, int] = field(default_factory=dict)   # kind -> days

    @property
    def overtime_hours(self) -> float:
        return round(self.overtime_min / 60, 2)

    def by_date(self) -> dict[dt.date, DayResult]:
        return {d.date: d for d in self.days}


def summarise(line: MonthLine) -> MonthLine:
    for d in line.days:
        if d.due:
            line.days_due += 1
            if d.punches and d.status != "leave":
                line.days_present += 1
        if d.late_min:
            line.late_count += 1
            line.late_min += d.late_min
        if d.early_min:
            line.early_count += 1
            line.early_min += d.early_min
        line.missing += d.missing
        line.overtime_min += d.overtime_min
        if d.status == "absent":
            line.absent_days += 1
        elif d.status == "leave":
            line.leave_days[d.leave_kind] = line.leave_days.get(d.leave_kind, 0) + 1
        elif d.status == "rest":
            line.rest_days += 1
    return line


def month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, stdcalendar.monthrange(year, month)[1])


def range_report(store: Store, first: dt.date, last: dt.date, tz, *, staff_ids=None, department: str = "",
                 now: dt.datetime | None = None) -> list[MonthLine]:
    """The summary's figures for any range (a month is :func:`month_report`)."""
    return [summarise(MonthLine(p.staff_id, p.staff_no, p.name, p.department, p.days))
            for p in compute_days(store, first, last, tz, staff_ids=staff_ids, department=department, now=now)]


def month_report(store: Store, year: int, month: int, tz, *, staff_ids=None, department: str = "",
                 now: dt.datetime | None = None) -> list[MonthLine]:
    """One line per person for the month: due, present, late, early, missing, absent, overtime, leave."""
    first, last = month_range(year, month)
    return range_report(store, first, last, tz, staff_ids=staff_ids, department=department, now=now)

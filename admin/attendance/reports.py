"""The monthly report, the monthly grid and the daily detail: the filter they share, the people
of a page, and the rows each page and export shows (all computed by app.attendance.rules)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import abort, request
from sqlalchemy import or_, select

from app.attendance import rules
from app.attendance.localtime import FIRST_DATE, LAST_DATE
from app.attendance.queries import devices_by_person, devices_by_person_day, escape_like, staff_ids_at_device
from app.store import Staff

from .. import devices
from ..context import services
from ..i18n import gettext as _
from ..i18n import language

PEOPLE_PER_PAGE = 50     # the monthly report and grid: people a page
DAYS_PER_PAGE = 100      # the daily detail: person-days a page
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class ReportFilter:
    first: dt.date
    last: dt.date
    department: str = ""
    staff: str = ""
    month: str = ""        # YYYY-MM when the range is a month
    device: str = ""       # the people with a punch at this device in the range (issue 20)

    def args(self) -> dict:
        out = {"month": self.month} if self.month else {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.department:
            out["department"] = self.department
        if self.staff:
            out["staff"] = self.staff
        if self.device:
            out["device"] = self.device
        return out

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def month_filter() -> ReportFilter:
    """?month=2026-03 (default: this month) plus ?department= and ?staff=; a bad one is a 400."""
    text = (request.args.get("month") or services().today().strftime("%Y-%m")).strip()
    try:
        year, month = (int(x) for x in text.split("-"))
        first, last = rules.month_range(year, month)
    except (ValueError, TypeError):
        abort(400, description=_("月份格式应为 2026-01"))
    if not (FIRST_DATE <= first and last <= LAST_DATE):
        abort(400, description=_("日期超出范围（1900 至 9998 年）"))
    return ReportFilter(first, last, _arg("department"), _arg("staff"), f"{year:04d}-{month:02d}", _arg("device"))


def range_filter() -> ReportFilter:
    """?from=&to= (default: today) plus ?department= and ?staff=; a bad one is a 400."""
    today = services().today()
    try:
        first = dt.date.fromisoformat(request.args.get("from") or today.isoformat())
        last = dt.date.fromisoformat(request.args.get("to") or first.isoformat())
    except ValueError:
        abort(400, description=_("日期格式应为 2026-01-31"))
    if not all(FIRST_DATE <= d <= LAST_DATE for d in (first, last)):
        abort(400, description=_("日期超出范围（1900 至 9998 年）"))
    if last < first:
        abort(400, description=_("结束日期早于开始日期"))
    if (last - first).days >= MAX_RANGE_DAYS:
        abort(400, description=_("一次最多查询一年"))
    return ReportFilter(first, last, _arg("department"), _arg("staff"), device=_arg("device"))


def _arg(name: str) -> str:
    value = request.args.get(name, "").strip()
    return "" if "\x00" in value else value


@dataclass(frozen=True)
class Person:
    id: int
    staff_no: str
    name: str
    department: str
    hire_date: dt.date | None
    leave_date: dt.date | None

    def employed_days(self, first: dt.date, last: dt.date) -> int:
        lo = max(first, self.hire_date or first)
        hi = min(last, self.leave_date or last)
        return max(0, (hi - lo).days + 1)


def people(f: ReportFilter) -> list[Person]:
    """Who the filter names and who was employed on a day of its range, by staff number."""
    q = select(Staff.id, Staff.staff_no, Staff.name, Staff.department, Staff.hire_date, Staff.leave_date) \
        .where(or_(Staff.hire_date.is_(None), Staff.hire_date <= f.last),
               or_(Staff.leave_date.is_(None), Staff.leave_date >= f.first),
               or_(Staff.active.is_(True), Staff.leave_date.is_not(None))).order_by(Staff.staff_no)
    if f.department:
        q = q.where(Staff.department == f.department)
    if f.staff:
        q = q.where(or_(Staff.staff_no == f.staff, Staff.name.like(f"%{escape_like(f.staff)}%", escape="\\")))
    if f.device:   # who punched there: their statuses still read every punch (in at one gate, out at another)
        q = q.where(Staff.id.in_(staff_ids_at_device(f.device, f.first, f.last)))
    with services().store.session() as s:
        return [Person(*row) for row in s.execute(q)]


def departments() -> list[str]:
    with services().store.session() as s:
        return [d for d in s.scalars(select(Staff.department).distinct().order_by(Staff.department)) if d]


def pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def report_lines(f: ReportFilter, who: list[Person]) -> list[rules.MonthLine]:
    if not who:
        return []
    return rules.range_report(services().store, f.first, f.last, services().timezone(),
                              staff_ids=[p.id for p in who])


def detail_slice(f: ReportFilter, who: list[Person], offset: int, limit: int) -> list[tuple[Person, rules.DayResult]]:
    """The person-days ``offset`` .. ``offset + limit`` of the range, person by person and day by
    day: only the people on that slice are computed, for only the days they need."""
    out: list[tuple[Person, rules.DayResult]] = []
    seen = 0
    wanted = []
    for p in who:
        n = p.employed_days(f.first, f.last)
        if seen + n > offset and seen < offset + limit:
            wanted.append((p, max(0, offset - seen), min(n, offset + limit - seen)))
        seen += n
        if seen >= offset + limit:
            break
    if not wanted:
        return out
    store, tz = services().store, services().timezone()
    computed = {pd.staff_id: pd.days for pd in rules.compute_days(
        store, f.first, f.last, tz, staff_ids=[p.id for p, _a, _b in wanted])}
    by_id = {p.id: p for p, _a, _b in wanted}
    for p, a, b in wanted:
        out.extend((by_id[p.id], d) for d in computed.get(p.id, [])[a:b])
    return out


def detail_rows(f: ReportFilter, who: list[Person], *, people_at_once: int = PEOPLE_PER_PAGE):
    """Every person-day of the range, computed a group of people at a time (exports of a year
    for everyone hold one group's days in memory, not all of them)."""
    store, tz = services().store, services().timezone()
    for i in range(0, len(who), people_at_once):
        group = who[i:i + people_at_once]
        by_id = {p.id: p for p in group}
        for pd in rules.compute_days(store, f.first, f.last, tz, staff_ids=list(by_id)):
            for d in pd.days:
                yield by_id[pd.staff_id], d


def total_person_days(f: ReportFilter, who: list[Person]) -> int:
    return sum(p.employed_days(f.first, f.last) for p in who)


def leave_kinds_used(lines: list[rules.MonthLine]) -> list[str]:
    used = {k for line in lines for k in line.leave_days}
    return [k for k in rules.LEAVE_KINDS if k in used]


def lang() -> str:
    return language()


def device_list(device_ids) -> str:
    """The devices of a row (a person-day, a person's month) as one cell."""
    return "、".join(devices.device_text(d) for d in device_ids)


def day_devices(f: ReportFilter, rows) -> dict:
    """(staff id, date) -> the devices of that person-day's punches, for the rows of a page."""
    return devices_by_person_day(services().store, f.first, f.last, sorted({p.id for p, _d in rows}))


def month_devices(f: ReportFilter, lines) -> dict[int, tuple[str, ...]]:
    """staff id -> the devices of that person's punches in the range, for the lines of a page."""
    return devices_by_person(services().store, f.first, f.last, [line.staff_id for line in lines])

"""Which shift a person works on a day: schedules, assignments, the work calendar, leave.

Loaded once per computation (:func:`load_rules`) into a :class:`RulesSnapshot`; a schedule's
answer for a date is memoised, so a department of a thousand people costs one look-up a day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select

from app.store import CompanyDay, Leave, Schedule, ScheduleAssignment, Shift, Staff, Store

from .shifts import ShiftRule
from .workcalendar import COMPANY_OFF, COMPANY_WORK, HOLIDAY, MAKEUP_WORKDAY, WorkCalendar

UNSCHEDULED = ("attendance.reason.unscheduled", {})


@dataclass
class SchedulePlan:
    id: int
    name: str
    kind: str
    anchor: dt.date | None
    follow_calendar: bool
    cycle: list[ShiftRule | None]

    def on(self, date: dt.date, calendar: WorkCalendar) -> tuple[ShiftRule | None, str, tuple]:
        """(shift or None, 'work' | 'rest', (reason key, values)) for ``date``."""
        if not self.cycle:
            return None, "rest", ("attendance.reason.rest", {})
        if self.kind == "rotating":
            pos = (date - (self.anchor or date)).days % len(self.cycle)
        else:
            pos = date.weekday() % len(self.cycle)
        shift = self.cycle[pos]
        day = calendar.day(date)
        if day.kind == COMPANY_OFF:  # the company closes: every schedule rests
            return None, "rest", ("attendance.reason.company_off", {"name": day.name or "—"})
        if self.follow_calendar:
            if day.kind == HOLIDAY:
                return None, "rest", ("attendance.reason.holiday", {"name": day.name})
            if day.kind in (MAKEUP_WORKDAY, COMPANY_WORK):
                # a Saturday worked in lieu of a holiday: the pattern's first working shift
                shift = shift or next((s for s in self.cycle if s is not None), None)
                if shift is not None:
                    key = "attendance.reason.makeup_workday" if day.kind == MAKEUP_WORKDAY \
                        else "attendance.reason.company_work"
                    return shift, "work", (key, {"name": day.name or "—"})
        if shift is None:
            return None, "rest", ("attendance.reason.rest", {})
        return shift, "work", ("attendance.reason.workday", {})


@dataclass
class RulesSnapshot:
    people: list[tuple]                      # (id, staff no, name, department, hire, leave) by staff no
    schedules: dict[int, SchedulePlan]
    by_staff: dict[int, list[tuple]]         # staff id -> [(first, last, schedule id)] newest first
    by_department: dict[str, list[tuple]]
    company: list[tuple]
    leaves: dict[int, list[tuple]]           # staff id -> [(first, last, kind, note)]
    calendar: WorkCalendar
    _memo: dict = field(default_factory=dict)

    def _schedule_id(self, staff_id: int, department: str, date: dt.date) -> int | None:
        for ranges in (self.by_staff.get(staff_id, ()), self.by_department.get(department, ()), self.company):
            for first, last, schedule_id in ranges:
                if first <= date and (last is None or date <= last):
                    return schedule_id
        return None

    def plan(self, staff_id: int, department: str, date: dt.date) -> tuple[ShiftRule | None, str, tuple]:
        schedule_id = self._schedule_id(staff_id, department, date)
        if schedule_id is None:
            return None, "unscheduled", UNSCHEDULED
        key = (schedule_id, date)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self.schedules[schedule_id].on(date, self.calendar)
        return hit


def load_rules(store: Store, first: dt.date, last: dt.date, *, staff_ids=None, department: str = "") -> RulesSnapshot:
    """Everything the engine needs for ``first`` .. ``last``, in one short transaction."""
    people_q = select(Staff.id, Staff.staff_no, Staff.name, Staff.department, Staff.hire_date, Staff.leave_date) \
        .where(or_(Staff.hire_date.is_(None), Staff.hire_date <= last),
               or_(Staff.leave_date.is_(None), Staff.leave_date >= first),
               or_(Staff.active.is_(True), Staff.leave_date.is_not(None))) \
        .order_by(Staff.staff_no)
    if staff_ids is not None:
        people_q = people_q.where(Staff.id.in_(list(staff_ids)))
    if department:
        people_q = people_q.where(Staff.department == department)
    in_range = (lambda c: and_(c.first <= last, or_(c.last.is_(None), c.last >= first)))
    with store.session() as s:
        people = [tuple(r) for r in s.execute(people_q)]
        shifts = {row.id: ShiftRule.from_row(row) for row in s.scalars(select(Shift))}
        schedules = {}
        for sch in s.scalars(select(Schedule)):
            schedules[sch.id] = SchedulePlan(sch.id, sch.name, sch.kind, sch.anchor, sch.follow_calendar,
                                             [shifts.get(d.shift_id) for d in sch.days])
        by_staff: dict[int, list] = {}
        by_department: dict[str, list] = {}
        company: list = []
        rows = s.execute(select(ScheduleAssignment.staff_id, ScheduleAssignment.department, ScheduleAssignment.first,
                                ScheduleAssignment.last, ScheduleAssignment.schedule_id)
                         .where(in_range(ScheduleAssignment))
                         .order_by(ScheduleAssignment.first.desc(), ScheduleAssignment.id.desc()))
        for staff_id, dept, a_first, a_last, schedule_id in rows:
            target = by_staff.setdefault(staff_id, []) if staff_id is not None else \
                by_department.setdefault(dept, []) if dept is not None else company
            target.append((a_first, a_last, schedule_id))
        company_days = {d.day: (d.kind, d.name) for d in s.scalars(
            select(CompanyDay).where(CompanyDay.day >= first, CompanyDay.day <= last))}
        leaves: dict[int, list] = {}
        for lv in s.scalars(select(Leave).where(Leave.first <= last, Leave.last >= first).order_by(Leave.first)):
            leaves.setdefault(lv.staff_id, []).append((lv.first, lv.last, lv.kind, lv.note))
    return RulesSnapshot(people, schedules, by_staff, by_department, company, leaves, WorkCalendar(company_days))

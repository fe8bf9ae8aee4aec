"""HR's changes to the rules: shifts, schedules and their assignments, company days, leave,
hire and leave dates. Each checks its input (a :class:`RuleError` names what is wrong, with a
catalogue key for the message) and writes an audit entry in the same transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.store import CompanyDay, Leave, Schedule, ScheduleAssignment, ScheduleDay, Shift, Staff, Store
from app.store.rules import COMPANY_DAY_KINDS, LEAVE_KINDS, PUNCH_RULES, SCHEDULE_KINDS, SHIFT_KINDS

MAX_CYCLE = 62          # a rotating pattern's days
MAX_MINUTES = 24 * 60
MAX_LEAVE_DAYS = 366


class RuleError(ValueError):
    """Bad input for a rule: ``key`` is the catalogue's message, ``values`` fill it."""

    def __init__(self, key: str, **values):
        super().__init__(key)
        self.key, self.values = key, values


@dataclass(frozen=True)
class ShiftSpec:
    name: str
    start: dt.time
    end: dt.time
    kind: str = "fixed"
    punches: str = "in_out"
    lunch_start: dt.time | None = None
    lunch_end: dt.time | None = None
    late_grace_min: int = 0
    early_grace_min: int = 0
    break_min: int = 0
    overtime_after_min: int | None = None
    absent_after_min: int | None = None
    required_minutes: int | None = None

    def check(self) -> None:
        if not self.name.strip() or len(self.name) > 64:
            raise RuleError("attendance.error.name")
        if self.kind not in SHIFT_KINDS or self.punches not in PUNCH_RULES:
            raise RuleError("attendance.error.kind")
        for n in (self.late_grace_min, self.early_grace_min, self.break_min, self.overtime_after_min,
                  self.absent_after_min, self.required_minutes):
            if n is not None and not 0 <= n <= MAX_MINUTES:
                raise RuleError("attendance.error.minutes", max=MAX_MINUTES)
        if self.start == self.end:
            raise RuleError("attendance.error.same_times")
        if self.punches == "four" and (self.lunch_start is None or self.lunch_end is None):
            raise RuleError("attendance.error.lunch")
        if self.kind == "flexible" and not self.required_minutes:
            raise RuleError("attendance.error.required")


def _clean_name(text: str) -> str:
    return (text or "").strip()


def _found(row):
    """The row, or the catalogue's "not found" refusal for a missing one."""
    if row is None:
        raise RuleError("attendance.error.not_found")
    return row


def _delete(store: Store, model, row_id: int, actor: str, action: str, **detail) -> None:
    """Delete one row by id and audit it (``detail`` names the row's columns to record)."""
    with store.session() as s:
        row = _found(s.get(model, row_id))
        s.delete(row)
        store.audit(s, actor, action, id=row_id, **{k: getattr(row, column) for k, column in detail.items()})


def save_shift(store: Store, spec: ShiftSpec, actor: str, shift_id: int | None = None) -> int:
    """Create (or, with ``shift_id``, change) a shift; the name is unique."""
    spec.check()
    with store.session() as s:
        row = _found(s.get(Shift, shift_id)) if shift_id is not None else Shift()
        for k, v in spec.__dict__.items():
            setattr(row, k, _clean_name(v) if k == "name" else v)
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise RuleError("attendance.error.duplicate", name=spec.name) from None
        store.audit(s, actor, "shift.save", id=row.id, name=row.name)
        return row.id


def delete_shift(store: Store, shift_id: int, actor: str) -> None:
    with store.session() as s:
        used = s.scalar(select(ScheduleDay.schedule_id).where(ScheduleDay.shift_id == shift_id).limit(1))
        if used is not None:
            raise RuleError("attendance.error.shift_in_use")
        row = _found(s.get(Shift, shift_id))
        s.delete(row)
        store.audit(s, actor, "shift.delete", id=shift_id, name=row.name)


def save_schedule(store: Store, name: str, kind: str, cycle: list[int | None], actor: str, *,
                  anchor: dt.date | None = None, follow_calendar: bool = True,
                  schedule_id: int | None = None) -> int:
    """A weekly pattern (7 days from Monday) or a rotating one (day 0 on ``anchor``): each day a
    shift id or None (rest)."""
    name = _clean_name(name)
    if not name or len(name) > 64:
        raise RuleError("attendance.error.name")
    if kind not in SCHEDULE_KINDS:
        raise RuleError("attendance.error.kind")
    if kind == "weekly" and len(cycle) != 7:
        raise RuleError("attendance.error.weekly")
    if kind == "rotating" and (not 1 <= len(cycle) <= MAX_CYCLE or anchor is None):
        raise RuleError("attendance.error.rotating", max=MAX_CYCLE)
    with store.session() as s:
        known = set(s.scalars(select(Shift.id)))
        if any(x is not None and x not in known for x in cycle):
            raise RuleError("attendance.error.not_found")
        row = _found(s.get(Schedule, schedule_id)) if schedule_id is not None else Schedule()
        row.name, row.kind, row.anchor, row.follow_calendar = name, kind, anchor, follow_calendar
        row.days = []
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise RuleError("attendance.error.duplicate", name=name) from None
        row.days = [ScheduleDay(position=i, shift_id=x) for i, x in enumerate(cycle)]
        s.flush()
        store.audit(s, actor, "schedule.save", id=row.id, name=name, kind=kind, cycle=cycle)
        return row.id


def delete_schedule(store: Store, schedule_id: int, actor: str) -> None:
    _delete(store, Schedule, schedule_id, actor, "schedule.delete", name="name")


def assign_schedule(store: Store, schedule_id: int, first: dt.date, actor: str, *, last: dt.date | None = None,
                    staff_id: int | None = None, department: str | None = None) -> int:
    """From ``first`` (to ``last``), ``schedule_id`` applies to one person, to a department
    (by name) or, with neither, to everyone. A person's own assignment wins over their
    department's, which wins over everyone's; among equals the one starting latest wins."""
    if last is not None and last < first:
        raise RuleError("attendance.error.range")
    if staff_id is not None and department:
        raise RuleError("attendance.error.one_target")
    department = _clean_name(department) if department else None
    with store.session() as s:
        if s.get(Schedule, schedule_id) is None or (staff_id is not None and s.get(Staff, staff_id) is None):
            raise RuleError("attendance.error.not_found")
        row = ScheduleAssignment(schedule_id=schedule_id, first=first, last=last, staff_id=staff_id,
                                 department=department, created_by=actor)
        s.add(row)
        s.flush()
        store.audit(s, actor, "schedule.assign", id=row.id, schedule_id=schedule_id, staff_id=staff_id,
                    department=department, first=first, last=last)
        return row.id


def delete_assignment(store: Store, assignment_id: int, actor: str) -> None:
    _delete(store, ScheduleAssignment, assignment_id, actor, "schedule.unassign")


def set_company_day(store: Store, day: dt.date, kind: str, name: str, actor: str) -> None:
    """A company day off (``off``) or working day (``work``); replaces the day's earlier entry."""
    if kind not in COMPANY_DAY_KINDS:
        raise RuleError("attendance.error.kind")
    name = _clean_name(name)[:64]
    with store.session() as s:
        row = s.scalar(select(CompanyDay).where(CompanyDay.day == day)) or CompanyDay(day=day)
        row.kind, row.name, row.created_by = kind, name, actor
        s.add(row)
        store.audit(s, actor, "calendar.set", day=day, kind=kind, name=name)


def delete_company_day(store: Store, day: dt.date, actor: str) -> None:
    with store.session() as s:
        row = _found(s.scalar(select(CompanyDay).where(CompanyDay.day == day)))
        s.delete(row)
        store.audit(s, actor, "calendar.delete", day=day)


def add_leave(store: Store, staff_id: int, first: dt.date, last: dt.date, kind: str, note: str, actor: str) -> int:
    """请假/出差 for whole days, ``first`` to ``last`` included; returns the leave's id."""
    if kind not in LEAVE_KINDS:
        raise RuleError("attendance.error.kind")
    if last < first:
        raise RuleError("attendance.error.range")
    if (last - first).days >= MAX_LEAVE_DAYS:
        raise RuleError("attendance.error.too_long", days=MAX_LEAVE_DAYS)
    note = (note or "").strip()
    if len(note) > 255:
        raise RuleError("attendance.error.note")
    with store.session() as s:
        if s.get(Staff, staff_id) is None:
            raise RuleError("attendance.error.not_found")
        overlap = s.scalar(select(Leave.id).where(Leave.staff_id == staff_id, Leave.first <= last,
                                                  Leave.last >= first).limit(1))
        if overlap is not None:
            raise RuleError("attendance.error.overlap")
        row = Leave(staff_id=staff_id, first=first, last=last, kind=kind, note=note, created_by=actor)
        s.add(row)
        s.flush()
        store.audit(s, actor, "leave.add", id=row.id, staff_id=staff_id, first=first, last=last, kind=kind)
        return row.id


def delete_leave(store: Store, leave_id: int, actor: str) -> None:
    _delete(store, Leave, leave_id, actor, "leave.delete", staff_id="staff_id")


def set_staff_dates(store: Store, staff_id: int, hire_date: dt.date | None, leave_date: dt.date | None,
                    actor: str) -> None:
    """入职 / 离职 dates: no attendance row before the one or after the other."""
    if hire_date is not None and leave_date is not None and leave_date < hire_date:
        raise RuleError("attendance.error.range")
    with store.session() as s:
        row = _found(s.get(Staff, staff_id))
        row.hire_date, row.leave_date = hire_date, leave_date
        store.audit(s, actor, "staff.dates", staff_id=staff_id, hire_date=hire_date, leave_date=leave_date)

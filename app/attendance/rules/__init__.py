"""Attendance rules: shifts, schedules, the Chinese work calendar, leave, and the day statuses
and monthly figures computed from them (issue 24).

Public API (stable: the staff self-service page and the reports are built on it)::

    from app.attendance import rules

    # the computation: each person's days, by staff number ------------------------------------
    people = rules.compute_days(store, first, last, tz, staff_ids=None, department="", now=None)
    #   -> list[PersonDays(staff_id, staff_no, name, department, hire_date, leave_date, days)]
    #   days: list[DayResult] — no row before the hire date or after the leave date
    #   DayResult: date, status (a code of STATUSES), shift (name), punches (count),
    #     first_in / last_out (local datetime or None), late_min, early_min, missing (punches),
    #     overtime_min, worked_min, leave_kind, due (a working day), reasons;
    #     .status_text(lang), .reason(lang) (why, in words), .mark(lang) (the grid's mark)
    lines = rules.month_report(store, year, month, tz, staff_ids=None, department="", now=None)
    lines = rules.range_report(store, first, last, tz, ...)
    #   -> list[MonthLine]: days_due, days_present, late_count, late_min, early_count, early_min,
    #      missing, absent_days, overtime_min (.overtime_hours), rest_days, leave_days {kind: days},
    #      days (the DayResults)

    # HR's changes (each audited; bad input raises RuleError(key, **values)) -------------------
    rules.add_leave(store, staff_id, first, last, kind, note, actor) -> leave id
    rules.delete_leave(store, leave_id, actor)
    rules.save_shift(store, ShiftSpec(...), actor, shift_id=None) -> shift id
    rules.delete_shift(store, shift_id, actor)
    rules.save_schedule(store, name, kind, cycle, actor, anchor=None, follow_calendar=True,
                        schedule_id=None) -> schedule id
    rules.delete_schedule(store, schedule_id, actor)
    rules.assign_schedule(store, schedule_id, first, actor, last=None, staff_id=None,
                          department=None) -> assignment id
    rules.delete_assignment(store, assignment_id, actor)
    rules.set_company_day(store, day, "off" | "work", name, actor)
    rules.delete_company_day(store, day, actor)
    rules.set_staff_dates(store, staff_id, hire_date, leave_date, actor)

    # texts, from the one catalogue (zh / en) --------------------------------------------------
    rules.status_text(code, lang), rules.leave_text(kind, lang)
    rules.WorkCalendar, rules.covered_years()   # chinesecalendar's years; others: Mon–Fri work

Statuses (``STATUSES``): normal 正常, late 迟到, early 早退, missing 缺卡, absent 旷工,
overtime 加班 (work on a rest day; overtime after a shift is ``overtime_min`` on a working day),
leave 请假, rest 休息, upcoming 未到 (the shift has not ended yet), unscheduled 未排班.
``tz`` is the terminal's zone (a ``zoneinfo.ZoneInfo``): punches are stored in UTC with their
local date, shifts are local times. Nothing is cached: every read computes from the stored
punches and rules, so an approved make-up punch, a new leave or a changed shift shows at once.

Schedules are assigned to a department by its **name** (``Staff.department``);
``ScheduleAssignment.department_id`` is there, empty, for departments as rows.
"""

from __future__ import annotations

from app.store.rules import LEAVE_KINDS, PUNCH_RULES, SCHEDULE_KINDS, SHIFT_KINDS

from .engine import STATUSES, DayResult, PersonDays, compute_days, leave_text, status_text
from .manage import (RuleError, ShiftSpec, add_leave, assign_schedule, delete_assignment, delete_company_day,
                     delete_leave, delete_schedule, delete_shift, save_schedule, save_shift, set_company_day,
                     set_staff_dates)
from .report import MonthLine, month_range, month_report, range_report
from .workcalendar import WorkCalendar, covered_years

__all__ = [
    "LEAVE_KINDS", "PUNCH_RULES", "SCHEDULE_KINDS", "SHIFT_KINDS", "STATUSES",
    "DayResult", "MonthLine", "PersonDays", "RuleError", "ShiftSpec", "WorkCalendar",
    "add_leave", "assign_schedule", "compute_days", "covered_years", "delete_assignment", "delete_company_day",
    "delete_leave", "delete_schedule", "delete_shift", "leave_text", "month_range", "month_report",
    "range_report", "save_schedule", "save_shift", "set_company_day", "set_staff_dates", "status_text",
]

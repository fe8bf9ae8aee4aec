from __future__ import annotations

import datetime as dt

import chinese_calendar
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from app import i18n
from app.attendance import rules
from app.attendance.rules.workcalendar import HOLIDAY, MAKEUP_WORKDAY
from app.store import CompanyDay, Leave, Schedule, ScheduleAssignment, Shift, Staff

from ..context import services
from ..i18n import gettext as _
from ..i18n import language
from ..paging import page_number
from . import forms
from .access import may_write, rules_writer

bp = Blueprint("rules", __name__, url_prefix="/rules")
PAGE_SIZE = 50
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _message(err: rules.RuleError) -> str:
    return i18n.text(err.key, language(), **err.values)


def _staff_id(staff_no: str) -> int:
    with services().store.session() as s:
        sid = s.scalar(select(Staff.id).where(Staff.staff_no == staff_no.strip()))
    if sid is None:
        raise rules.RuleError("attendance.error.no_staff", staff_no=staff_no)
    return sid


@bp.app_context_processor
def _rules_context():
    return {"may_write_rules": may_write}


# -- shifts --------------------------------------------------------------------------------------

@bp.get("/")
def index():
    return redirect(url_for("rules.shifts"))


@bp.get("/shifts")
def shifts(error: str | None = None, form=None):
    with services().store.session() as s:
        rows = list(s.scalars(select(Shift).order_by(Shift.name)))
    editing = forms.int_of(request.args, "edit") if request.args.get("edit", "").isdigit() else None
    if form is None and editing is not None:
        form = next((_shift_form(x) for x in rows if x.id == editing), None)
    return render_template("rules/shifts.html", rows=rows, error=error, form=form or {},
                           kinds=rules.SHIFT_KINDS, punch_rules=rules.PUNCH_RULES), (400 if error else 200)


def _shift_form(row: Shift) -> dict:
    """A stored shift as the form shows it (to change it)."""
    hhmm = (lambda t: t.strftime("%H:%M") if t else "")
    blank = (lambda n: "" if n is None else str(n))
    return {"id": str(row.id), "name": row.name, "kind": row.kind, "start": hhmm(row.start), "end": hhmm(row.end),
            "punches": row.punches, "lunch_start": hhmm(row.lunch_start), "lunch_end": hhmm(row.lunch_end),
            "late_grace_min": str(row.late_grace_min), "early_grace_min": str(row.early_grace_min),
            "break_min": str(row.break_min), "overtime_after_min": blank(row.overtime_after_min),
            "absent_after_min": blank(row.absent_after_min), "required_minutes": blank(row.required_minutes)}


def _shift_spec(form) -> rules.ShiftSpec:
    return rules.ShiftSpec(
        name=forms.text(form, "name"), start=forms.time_of(form, "start"), end=forms.time_of(form, "end"),
        kind=forms.text(form, "kind") or "fixed", punches=forms.text(form, "punches") or "in_out",
        lunch_start=forms.time_of(form, "lunch_start", required=False),
        lunch_end=forms.time_of(form, "lunch_end", required=False),
        late_grace_min=forms.minutes_of(form, "late_grace_min"), early_grace_min=forms.minutes_of(form, "early_grace_min"),
        break_min=forms.minutes_of(form, "break_min"),
        overtime_after_min=forms.minutes_of(form, "overtime_after_min", default=None),
        absent_after_min=forms.minutes_of(form, "absent_after_min", default=None),
        required_minutes=forms.minutes_of(form, "required_minutes", default=None))


@bp.post("/shifts")
@rules_writer
def save_shift():
    try:
        rules.save_shift(services().store, _shift_spec(request.form), g.actor,
                         shift_id=forms.int_of(request.form, "id"))
    except rules.RuleError as err:
        return shifts(error=_message(err), form=request.form)
    flash(_("已保存"))
    return redirect(url_for("rules.shifts"))


@bp.post("/shifts/<int:shift_id>/delete")
@rules_writer
def delete_shift(shift_id: int):
    try:
        rules.delete_shift(services().store, shift_id, g.actor)
    except rules.RuleError as err:
        return shifts(error=_message(err))
    flash(_("已删除"))
    return redirect(url_for("rules.shifts"))


# -- schedules and assignments -------------------------------------------------------------------

@bp.get("/schedules")
def schedules(error: str | None = None, form=None):
    with services().store.session() as s:
        shift_rows = list(s.scalars(select(Shift).order_by(Shift.name)))
        names = {x.id: x.name for x in shift_rows}
        plans = [(sch, [names.get(d.shift_id) for d in sch.days]) for sch in s.scalars(select(Schedule).order_by(Schedule.name))]
        assigned = s.execute(select(ScheduleAssignment, Schedule.name, Staff.staff_no, Staff.name)
                             .join(Schedule, Schedule.id == ScheduleAssignment.schedule_id)
                             .outerjoin(Staff, Staff.id == ScheduleAssignment.staff_id)
                             .order_by(ScheduleAssignment.first.desc(), ScheduleAssignment.id.desc())).all()
        departments = [d for d in s.scalars(select(Staff.department).distinct().order_by(Staff.department)) if d]
    return render_template("rules/schedules.html", shifts=shift_rows, plans=plans, assigned=assigned,
                           departments=departments, weekdays=WEEKDAYS, error=error, form=form or {}), \
        (400 if error else 200)


def _cycle(form) -> tuple[str, list[int | None]]:
    kind = forms.text(form, "kind") or "weekly"
    if kind == "weekly":
        return kind, [forms.int_of(form, f"day{i}") for i in range(7)]
    # rotating: shift names (or 休 / - for a rest day) separated by commas or spaces
    with services().store.session() as s:
        by_name = {name: sid for sid, name in s.execute(select(Shift.id, Shift.name))}
    cycle = []
    for part in forms.text(form, "cycle").replace("，", ",").replace(",", " ").split():
        if part in ("休", "-", "rest"):
            cycle.append(None)
        elif part in by_name:
            cycle.append(by_name[part])
        else:
            raise rules.RuleError("attendance.error.no_shift", name=part)
    return kind, cycle


@bp.post("/schedules")
@rules_writer
def save_schedule():
    form = request.form
    try:
        kind, cycle = _cycle(form)
        rules.save_schedule(services().store, forms.text(form, "name"), kind, cycle, g.actor,
                            anchor=forms.date_of(form, "anchor", required=False),
                            follow_calendar=form.get("follow_calendar") == "1",
                            schedule_id=forms.int_of(form, "id"))
    except rules.RuleError as err:
        return schedules(error=_message(err), form=form)
    flash(_("已保存"))
    return redirect(url_for("rules.schedules"))


@bp.post("/schedules/<int:schedule_id>/delete")
@rules_writer
def delete_schedule(schedule_id: int):
    try:
        rules.delete_schedule(services().store, schedule_id, g.actor)
    except rules.RuleError as err:
        return schedules(error=_message(err))
    flash(_("已删除"))
    return redirect(url_for("rules.schedules"))


@bp.post("/assignments")
@rules_writer
def assign():
    form = request.form
    try:
        target = forms.text(form, "target")
        staff_id = department = None
        if target == "staff":
            staff_id = _staff_id(forms.text(form, "staff_no"))
        elif target == "department":
            department = forms.text(form, "department")
            if not department:
                raise rules.RuleError("attendance.error.department")
        schedule_id = forms.int_of(form, "schedule_id")
        if schedule_id is None:
            raise rules.RuleError("attendance.error.not_found")
        rules.assign_schedule(services().store, schedule_id, forms.date_of(form, "first"), g.actor,
                              last=forms.date_of(form, "last", required=False), staff_id=staff_id,
                              department=department)
    except rules.RuleError as err:
        return schedules(error=_message(err), form=form)
    flash(_("已保存"))
    return redirect(url_for("rules.schedules"))


@bp.post("/assignments/<int:assignment_id>/delete")
@rules_writer
def unassign(assignment_id: int):
    try:
        rules.delete_assignment(services().store, assignment_id, g.actor)
    except rules.RuleError as err:
        return schedules(error=_message(err))
    flash(_("已删除"))
    return redirect(url_for("rules.schedules"))


# -- the work calendar ---------------------------------------------------------------------------

@bp.get("/calendar")
def calendar(error: str | None = None, form=None):
    today = services().today()
    try:
        year = int(request.args.get("year") or today.year)
    except ValueError:
        abort(400, description=_("年份无效"))
    if not 1900 <= year <= 9998:
        abort(400, description=_("年份无效"))
    first_year, last_year = rules.covered_years()
    cal = rules.WorkCalendar()
    public = []
    if cal.known(year):
        day = dt.date(year, 1, 1)
        while day.year == year:
            kind = cal.day(day)
            if kind.kind in (HOLIDAY, MAKEUP_WORKDAY):
                public.append((day, kind))
            day += dt.timedelta(days=1)
    with services().store.session() as s:
        own = list(s.scalars(select(CompanyDay).where(CompanyDay.day >= dt.date(year, 1, 1),
                                                      CompanyDay.day <= dt.date(year, 12, 31)).order_by(CompanyDay.day)))
    return render_template("rules/calendar.html", year=year, public=public, own=own, known=cal.known(year),
                           first_year=first_year, last_year=last_year, next_known=cal.known(today.year + 1),
                           today=today, library_version=chinese_calendar.__version__, weekdays=WEEKDAYS,
                           error=error, form=form or {}), (400 if error else 200)


@bp.post("/calendar")
@rules_writer
def set_day():
    form = request.form
    try:
        day = forms.date_of(form, "day")
        rules.set_company_day(services().store, day, forms.text(form, "kind"), forms.text(form, "name"), g.actor)
    except rules.RuleError as err:
        return calendar(error=_message(err), form=form)
    flash(_("已保存"))
    return redirect(url_for("rules.calendar", year=day.year))


@bp.post("/calendar/<day>/delete")
@rules_writer
def delete_day(day: str):
    try:
        when = dt.date.fromisoformat(day)
        rules.delete_company_day(services().store, when, g.actor)
    except ValueError:
        abort(404)
    flash(_("已删除"))
    return redirect(url_for("rules.calendar", year=when.year))


# -- leave and hire / leave dates ----------------------------------------------------------------

@bp.get("/leave")
def leave(error: str | None = None, form=None):
    staff = request.args.get("staff", "").strip()
    pg = page_number()
    q = select(Leave, Staff.staff_no, Staff.name, Staff.department).join(Staff, Staff.id == Leave.staff_id)
    if staff:
        q = q.where((Staff.staff_no == staff) | (Staff.name == staff))
    with services().store.session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        rows = s.execute(q.order_by(Leave.first.desc(), Leave.id.desc()).offset((pg - 1) * PAGE_SIZE)
                         .limit(PAGE_SIZE)).all()
    lang = language()
    return render_template("rules/leave.html", rows=rows, total=total, page=pg,
                           pages=max(1, -(-total // PAGE_SIZE)), staff=staff,
                           kinds=[(k, rules.leave_text(k, lang)) for k in rules.LEAVE_KINDS],
                           leave_text=rules.leave_text, lang=lang, error=error, form=form or {}), (400 if error else 200)


@bp.post("/leave")
@rules_writer
def add_leave():
    form = request.form
    try:
        rules.add_leave(services().store, _staff_id(forms.text(form, "staff_no")), forms.date_of(form, "first"),
                        forms.date_of(form, "last"), forms.text(form, "kind"), forms.text(form, "note"), g.actor)
    except rules.RuleError as err:
        return leave(error=_message(err), form=form)
    flash(_("已保存"))
    return redirect(url_for("rules.leave"))


@bp.post("/leave/<int:leave_id>/delete")
@rules_writer
def delete_leave(leave_id: int):
    try:
        rules.delete_leave(services().store, leave_id, g.actor)
    except rules.RuleError:
        abort(404)
    flash(_("已删除"))
    return redirect(url_for("rules.leave"))


@bp.post("/dates")
@rules_writer
def staff_dates():
    form = request.form
    try:
        rules.set_staff_dates(services().store, _staff_id(forms.text(form, "staff_no")),
                              forms.date_of(form, "hire_date", required=False),
                              forms.date_of(form, "leave_date", required=False), g.actor)
    except rules.RuleError as err:
        return leave(error=_message(err), form=form)
    flash(_("已保存"))
    return redirect(url_for("rules.leave"))

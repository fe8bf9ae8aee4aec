from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from sqlalchemy import select

from app.attendance import queries, rules
from app.attendance.localtime import FIRST_DATE, LAST_DATE, LocalTimes
from app.attendance.summary import daily_summary, iter_daily_summary
from app.attendance.summary import daily_summary_count as summary_count
from app.store import Staff
from app.store.models import PUNCH_SOURCES

from .. import devices
from ..context import services
from ..i18n import gettext as _
from ..paging import page_number
from . import reports
from .export import iter_csv, to_xlsx
from .workbook import NUMBER, TEXT, DATE, TIME, clock, report_xlsx

bp = Blueprint("attendance", __name__, url_prefix="/attendance")
PAGE_SIZE = 50


FILTER_ARGS = ("from", "to", "staff", "department", "source", "device")


class FilterError(ValueError):
    """A filter the page cannot run; its text is a sentence in the page's language."""


@bp.errorhandler(FilterError)
def _bad_filter(exc):
    """The page again, with the sentence above the filter and the typed values kept, not a bare 400."""
    message = str(exc)
    if request.endpoint not in ("attendance.index", "attendance.summary"):
        return render_template("error.html", code=400, title=_("请求有误"), message=message), 400
    template = "attendance/index.html" if request.endpoint == "attendance.index" else "attendance/summary.html"
    return render_template(template, rows=[], total=0, page=1, pages=1, error=message,
                           first=request.args.get("from", ""), last=request.args.get("to", ""),
                           args=_filter_args(), **_choices()), 400


def _form():
    """The page's filter from ?from=&to=&staff=&department=&source=&device=; a bad one is a
    FilterError that says why (the page shows it).

    The days are the punches' stored local dates (a punch stays on the day it was made at the
    terminal, even after a change of the terminal's zone); times are shown in the zone of now.
    """
    tz = services().timezone()
    today = services().today()
    try:
        first = dt.date.fromisoformat(request.args.get("from") or today.isoformat())
        last = dt.date.fromisoformat(request.args.get("to") or first.isoformat())
    except ValueError:
        raise FilterError(_("日期格式应为 2026-01-31")) from None
    if not all(FIRST_DATE <= d <= LAST_DATE for d in (first, last)):
        raise FilterError(_("日期超出范围（1900 至 9998 年）"))
    if last < first:
        raise FilterError(_("结束日期早于开始日期，请把开始日期改到结束日期之前。"))
    if (last - first).days > 366:
        raise FilterError(_("一次最多查询一年，请缩短日期范围（可分几次查询或导出）。"))
    arg = (lambda name: request.args.get(name, "").strip())
    f = queries.PunchFilter.days(first, last, staff=arg("staff"), department=arg("department"),
                                 source=arg("source"), device_id=arg("device"))
    return tz, first, last, f


def _filter_args() -> dict:
    return {k: v for k, v in request.args.items() if k in FILTER_ARGS}


def _choices(first: dt.date | None = None, last: dt.date | None = None) -> dict:
    """What the filter's lists offer: departments, punch sources and the known devices (of the
    range shown; today's when the filter itself was refused)."""
    with services().store.session() as s:
        departments = [d for d in s.scalars(select(Staff.department).distinct().order_by(Staff.department)) if d]
    today = services().today()
    device_list = devices.choices(first or today, last or first or today, request.args.get("device", "").strip())
    return {"departments": departments, "sources": PUNCH_SOURCES, "devices": device_list}


@bp.get("/")
def index():
    tz, first, last, f = _form()
    pg = page_number()
    store = services().store
    total = queries.count(store, f)
    local = LocalTimes(tz)
    shown = [(p, local(p.punched_at)) for p in queries.listed(store, f, offset=(pg - 1) * PAGE_SIZE, limit=PAGE_SIZE)]
    return render_template("attendance/index.html", rows=shown, total=total, page=pg,
                           pages=max(1, -(-total // PAGE_SIZE)), first=first, last=last,
                           args=_filter_args(), **_choices(first, last))


def _states() -> dict:
    """The summary's 状态 texts: the punches' presence, and the rules' statuses where a schedule applies."""
    lang = reports.lang()
    return {"ok": _("正常"), "single": _("单次"), "missing": _("缺卡"),
            **{code: rules.status_text(code, lang) for code in rules.STATUSES}}


@bp.get("/summary")
def summary():
    tz, first, last, f = _form()
    pg = page_number()
    store = services().store
    total = summary_count(store, f)
    rows = daily_summary(store, f, tz, offset=(pg - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render_template("attendance/summary.html", rows=rows, first=first, last=last, total=total, page=pg,
                           pages=max(1, -(-total // PAGE_SIZE)), states=_states(), lang=reports.lang(),
                           device_list=reports.device_list, args=_filter_args(), **_choices(first, last))


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    tz, first, last, f = _form()
    store = services().store
    if request.args.get("view") == "summary":
        header = [_("日期"), _("工号"), _("姓名"), _("部门"), _("首次打卡"), _("末次打卡"), _("次数"), _("状态"), _("设备")]
        states = _states()
        data = ([r.date.isoformat(), r.staff_no, r.name, r.department, r.first, r.last, r.count, states[r.state],
                 reports.device_list(r.devices)]
                for r in iter_daily_summary(store, f, tz))
        title = "summary"
    else:  # streamed from the database batch by batch: any range in flat memory
        header = [_("工号"), _("姓名"), _("时间"), _("来源"), _("设备")]
        local = LocalTimes(tz)
        data = ([p.staff_no, p.name, local(p.punched_at), p.source, devices.device_text(p.device_id)]
                for p in queries.iter_listed(store, f))
        title = "punches"
    name = f"attendance-{title}-{first.isoformat()}_{last.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f"attachment; filename={name}"}
    if fmt == "csv":
        return Response(stream_with_context(iter_csv(header, data)), mimetype="text/csv; charset=utf-8",
                        headers=headers)
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(to_xlsx(header, data, title), mimetype=mime, headers=headers)


# -- issue 24: the monthly report, the monthly grid and the daily detail (app.attendance.rules) ---

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
WEEKDAYS_EN = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def _company() -> str:
    return (services().setting("reports.company") or "").strip() or services().setting("device.name")


def _weekday(day: dt.date) -> str:
    return (WEEKDAYS_EN if reports.lang() == "en" else WEEKDAYS)[day.weekday()]


def _monthly_columns(kinds: list[str]) -> list[tuple[str, str, float]]:
    lang = reports.lang()
    return [(_("工号"), TEXT, 10), (_("姓名"), TEXT, 10), (_("部门"), TEXT, 12), (_("应出勤天数"), NUMBER, 8),
            (_("实出勤天数"), NUMBER, 8), (_("迟到次数"), NUMBER, 7), (_("迟到分钟"), NUMBER, 7),
            (_("早退次数"), NUMBER, 7), (_("早退分钟"), NUMBER, 7), (_("缺卡次数"), NUMBER, 7),
            (_("旷工天数"), NUMBER, 7), (_("加班小时"), NUMBER, 7)] + \
        [(rules.leave_text(k, lang), NUMBER, 7) for k in kinds] + [(_("设备"), TEXT, 16)]


def _monthly_row(line: rules.MonthLine, kinds: list[str], line_devices: dict) -> list:
    return [line.staff_no, line.name, line.department, line.days_due, line.days_present, line.late_count,
            line.late_min, line.early_count, line.early_min, line.missing, line.absent_days, line.overtime_hours] + \
        [line.leave_days.get(k, 0) for k in kinds] + [reports.device_list(line_devices.get(line.staff_id, ()))]


def _range_text(f: reports.ReportFilter) -> str:
    return _("{first} 至 {last}", first=f.first.isoformat(), last=f.last.isoformat())


def _download(fmt: str, name: str, header, rows, xlsx: Callable[[], bytes]) -> Response:
    headers = {"Content-Disposition": f"attachment; filename={name}.{fmt}"}
    if fmt == "csv":
        return Response(stream_with_context(iter_csv(header, rows)), mimetype="text/csv; charset=utf-8",
                        headers=headers)
    return Response(xlsx(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers=headers)


def _calendar_note(f: reports.ReportFilter) -> str | None:
    first_year, last_year = rules.covered_years()
    unknown = sorted({d.year for d in (f.first, f.last)} - set(range(first_year, last_year + 1)))
    if not unknown:
        return None
    return _("{years} 年的法定节假日和调休尚未收录（已收录 {first}–{last} 年），暂按周一至周五上班计算；"
             "可在“考勤规则 › 日历”中录入公司休息日和上班日。",
             years="、".join(map(str, unknown)), first=first_year, last=last_year)


@bp.get("/monthly")
def monthly():
    f = reports.month_filter()
    who = reports.people(f)
    pg = page_number()
    lines = reports.report_lines(f, who[(pg - 1) * reports.PEOPLE_PER_PAGE: pg * reports.PEOPLE_PER_PAGE])
    kinds = reports.leave_kinds_used(lines)
    return render_template("attendance/monthly.html", f=f, lines=lines, kinds=kinds, total=len(who), page=pg,
                           pages=reports.pages(len(who), reports.PEOPLE_PER_PAGE),
                           departments=reports.departments(), note=_calendar_note(f),
                           devices=devices.choices(f.first, f.last, f.device),
                           line_devices=reports.month_devices(f, lines), device_list=reports.device_list,
                           leave_text=rules.leave_text, lang=reports.lang())


@bp.get("/monthly.<fmt>")
def monthly_export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = reports.month_filter()
    lines = reports.report_lines(f, reports.people(f))
    kinds = reports.leave_kinds_used(lines)
    columns = _monthly_columns(kinds)
    line_devices = reports.month_devices(f, lines)
    rows = [_monthly_row(line, kinds, line_devices) for line in lines]
    title = f"{_company()} {_('月度考勤汇总')} {f.month}"
    return _download(fmt, f"attendance-monthly-{f.month}", [c[0] for c in columns], iter(rows),
                     lambda: report_xlsx(title, _range_text(f), columns, rows, _("月度考勤汇总")))


def _grid_rows(f: reports.ReportFilter, lines, lang: str):
    for line in lines:
        by_date = line.by_date()
        yield line, [by_date.get(day) for day in f.days]


@bp.get("/grid")
def grid():
    f = reports.month_filter()
    who = reports.people(f)
    pg = page_number()
    lines = reports.report_lines(f, who[(pg - 1) * reports.PEOPLE_PER_PAGE: pg * reports.PEOPLE_PER_PAGE])
    lang = reports.lang()
    legend = [(rules.DayResult(dt.date.min, s).mark(lang), rules.status_text(s, lang))
              for s in ("normal", "late", "early", "missing", "absent", "overtime", "rest", "unscheduled")]
    return render_template("attendance/grid.html", f=f, rows=list(_grid_rows(f, lines, lang)), total=len(who),
                           line_devices=reports.month_devices(f, lines), device_list=reports.device_list,
                           page=pg, pages=reports.pages(len(who), reports.PEOPLE_PER_PAGE),
                           departments=reports.departments(), weekday=_weekday, lang=lang, legend=legend,
                           devices=devices.choices(f.first, f.last, f.device),
                           note=_calendar_note(f))


@bp.get("/grid.<fmt>")
def grid_export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = reports.month_filter()
    lang = reports.lang()
    lines = reports.report_lines(f, reports.people(f))
    columns = [(_("工号"), TEXT, 10), (_("姓名"), TEXT, 10), (_("部门"), TEXT, 12)] + \
        [(f"{day.day} {_weekday(day)}", TEXT, 4.5) for day in f.days] + \
        [(_("迟到次数"), NUMBER, 7), (_("早退次数"), NUMBER, 7), (_("缺卡次数"), NUMBER, 7), (_("旷工天数"), NUMBER, 7),
         (_("设备"), TEXT, 16)]
    line_devices = reports.month_devices(f, lines)
    rows = [[line.staff_no, line.name, line.department] + [d.mark(lang) if d else "" for d in days] +
            [line.late_count, line.early_count, line.missing, line.absent_days,
             reports.device_list(line_devices.get(line.staff_id, ()))]
            for line, days in _grid_rows(f, lines, lang)]
    title = f"{_company()} {_('月度考勤表')} {f.month}"
    return _download(fmt, f"attendance-grid-{f.month}", [c[0] for c in columns], iter(rows),
                     lambda: report_xlsx(title, _range_text(f), columns, rows, _("月度考勤表")))


@bp.get("/days")
def days():
    f = reports.range_filter()
    who = reports.people(f)
    total = reports.total_person_days(f, who)
    pg = page_number()
    rows = reports.detail_slice(f, who, (pg - 1) * reports.DAYS_PER_PAGE, reports.DAYS_PER_PAGE)
    return render_template("attendance/days.html", f=f, rows=rows, total=total, page=pg,
                           pages=reports.pages(total, reports.DAYS_PER_PAGE), departments=reports.departments(),
                           devices=devices.choices(f.first, f.last, f.device), day_devices=reports.day_devices(f, rows),
                           device_list=reports.device_list,
                           weekday=_weekday, lang=reports.lang(), note=_calendar_note(f))


@bp.get("/days.<fmt>")
def days_export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = reports.range_filter()
    lang = reports.lang()
    who = reports.people(f)
    columns = [(_("日期"), DATE, 11), (_("工号"), TEXT, 10), (_("姓名"), TEXT, 10), (_("部门"), TEXT, 12),
               (_("班次"), TEXT, 10), (_("上班"), TIME, 7), (_("下班"), TIME, 7), (_("状态"), TEXT, 8),
               (_("迟到分钟"), NUMBER, 7), (_("早退分钟"), NUMBER, 7), (_("加班分钟"), NUMBER, 7), (_("说明"), TEXT, 48),
               (_("设备"), TEXT, 16)]

    def values(as_text: bool):
        group: set[int] = set()
        seen_at: dict = {}
        position = {p.id: i for i, p in enumerate(who)}
        for p, d in reports.detail_rows(f, who):
            if p.id not in group:   # the devices of a group of people at a time, as detail_rows computes them
                start = position[p.id]
                chunk = who[start:start + reports.PEOPLE_PER_PAGE]
                group, seen_at = {x.id for x in chunk}, reports.day_devices(f, [(x, None) for x in chunk])
            first_in, last_out = clock(d.first_in), clock(d.last_out)
            if as_text:
                first_in = first_in and first_in.strftime("%H:%M")
                last_out = last_out and last_out.strftime("%H:%M")
            yield [d.date if not as_text else d.date.isoformat(), p.staff_no, p.name, p.department, d.shift,
                   first_in, last_out, d.status_text(lang), d.late_min, d.early_min, d.overtime_min, d.reason(lang),
                   reports.device_list(seen_at.get((p.id, d.date), ()))]

    title = f"{_company()} {_('每日考勤明细')}"
    name = f"attendance-days-{f.first.isoformat()}_{f.last.isoformat()}"
    return _download(fmt, name, [c[0] for c in columns], values(True),
                     lambda: report_xlsx(title, _range_text(f), columns, values(False), _("每日考勤明细"), freeze_columns=3))

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from sqlalchemy import select

from app.attendance import queries
from app.attendance.localtime import FIRST_DATE, LAST_DATE, LocalTimes
from app.attendance.summary import daily_summary
from app.store import Staff
from app.store.models import PUNCH_SOURCES

from ..context import services
from ..i18n import gettext as _
from ..paging import page_number
from .export import iter_csv, to_xlsx

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


def _choices() -> dict:
    """What the filter's lists offer: departments and punch sources (a device id is typed)."""
    with services().store.session() as s:
        departments = [d for d in s.scalars(select(Staff.department).distinct().order_by(Staff.department)) if d]
    return {"departments": departments, "sources": PUNCH_SOURCES}


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
                           args=_filter_args(), **_choices())


@bp.get("/summary")
def summary():
    tz, first, last, f = _form()
    rows = daily_summary(services().store, f, tz)
    return render_template("attendance/summary.html", rows=rows, first=first, last=last,
                           args=_filter_args(), **_choices())


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    tz, first, last, f = _form()
    store = services().store
    if request.args.get("view") == "summary":
        header = [_("日期"), _("工号"), _("姓名"), _("部门"), _("首次打卡"), _("末次打卡"), _("次数"), _("状态")]
        states = {"ok": _("正常"), "single": _("单次"), "missing": _("缺卡")}
        data = ([r.date.isoformat(), r.staff_no, r.name, r.department, r.first, r.last, r.count, states[r.state]]
                for r in daily_summary(store, f, tz))
        title = "summary"
    else:  # streamed from the database batch by batch: any range in flat memory
        header = [_("工号"), _("姓名"), _("时间"), _("来源"), _("设备")]
        local = LocalTimes(tz)
        data = ([p.staff_no, p.name, local(p.punched_at), p.source, p.device_id] for p in queries.iter_listed(store, f))
        title = "punches"
    name = f"attendance-{title}-{first.isoformat()}_{last.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f"attachment; filename={name}"}
    if fmt == "csv":
        return Response(stream_with_context(iter_csv(header, data)), mimetype="text/csv; charset=utf-8",
                        headers=headers)
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(to_xlsx(header, data, title), mimetype=mime, headers=headers)

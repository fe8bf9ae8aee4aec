from __future__ import annotations

import datetime as dt

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from app.attendance import rules
from app.i18n import has
from app.services.selflink import BadLink
from app.store import Staff

from ..context import services
from ..i18n import gettext as _
from ..i18n import language
from ..makeup import service as makeup
from ..security import AddressThrottle, manages
from . import service

bp = Blueprint("me", __name__, url_prefix="/me")
OPEN_LIMIT = 20      # links opened per address in OPEN_WINDOW_S (a phone opens one a punch)
OPEN_WINDOW_S = 300.0
ASK_LIMIT = 10       # requests sent per person in ASK_WINDOW_S
ASK_WINDOW_S = 600.0


@bp.record_once
def _throttles(state) -> None:
    state.app.extensions["daka_self_open"] = AddressThrottle(OPEN_LIMIT, OPEN_WINDOW_S)
    state.app.extensions["daka_self_ask"] = AddressThrottle(ASK_LIMIT, ASK_WINDOW_S)


def public(view):
    """Reached without an admin account: the link (then this browser's session) says who it is."""
    view.public = True
    return view


def _denied(reason: str, status: int = 403):
    messages = {"expired": _("链接已过期"), "used": _("链接已使用过"), "forged": _("链接无效"),
                "none": _("请在打卡机上打卡后扫码打开本页"), "busy": _("尝试次数过多，请稍后再试")}
    return render_template("me/denied.html", message=messages.get(reason, messages["forged"])), status


@bp.get("/open/<token>")
@public
def open_link(token: str):
    if not current_app.extensions["daka_self_open"].admit(request.remote_addr or "?"):
        return _denied("busy", 429)
    try:
        service.open_link(services(), token)
    except BadLink as exc:
        return _denied(exc.reason)
    # the token leaves the address bar and the history at once
    return redirect(url_for("me.page"))


@bp.get("/")
@public
def page(error: str | None = None, status: int = 200):
    svc = services()
    person = service.holder(svc)
    if person is None:
        return _denied("none")
    lang = language()
    now = service.now_local(svc)
    days = service.month_days(svc, person, now)
    tz = svc.timezone()
    requests_ = [(r, r.punched_at.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%m-%d %H:%M"))
                 for r in service.recent_requests(svc, person)]
    return render_template("me/page.html", person=person, days=days, requests=requests_, error=error,
                           lang=lang, leave_kinds=[(k, rules.leave_text(k, lang)) for k in rules.LEAVE_KINDS],
                           today=now.date(), leave_text=lambda k: rules.leave_text(k, lang)), status


def _said(exc: makeup.MakeupError) -> str:
    return _(exc.key, **exc.values) if exc.key and has(exc.key) else str(exc)


@bp.post("/request")
@public
def ask():
    svc = services()
    person = service.holder(svc)
    if person is None:
        return _denied("none")
    if not current_app.extensions["daka_self_ask"].admit(f"staff:{person.id}"):
        return _denied("busy", 429)
    form, actor = request.form, makeup.SELF_ACTOR + person.staff_no
    try:
        if form.get("kind") == "leave":
            try:
                first, last = (dt.date.fromisoformat(form.get(k, "")) for k in ("first", "last"))
            except ValueError:
                raise makeup.MakeupError("请填写开始和结束日期") from None
            makeup.create_leave(svc, person.staff_no, first, last, form.get("leave_type", ""),
                                form.get("reason", ""), actor)
        else:
            if not form.get("reason", "").strip():
                raise makeup.MakeupError("请填写原因")
            at = form.get("time", "")
            try:
                day = dt.date.fromisoformat(at[:10])
            except ValueError:
                raise makeup.MakeupError("请填写补卡时间") from None
            if (service.now_local(svc).date() - day).days > 31:
                raise makeup.MakeupError("只能补 31 天内的卡")
            makeup.create(svc, person.staff_no, at, form.get("reason", ""), actor)
    except makeup.MakeupError as exc:
        return page(error=_said(exc), status=400)
    flash(_("已提交，等待人事审批"))
    return redirect(url_for("me.page"))


@bp.get("/code/<int:staff_id>")
def code(staff_id: int):
    """A printable one-time code for a person who has no phone at the terminal (hr and admins)."""
    if not manages():
        abort(403)
    svc = services()
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        if st is None:
            abort(404)
        staff_no, name = st.staff_no, st.name
    url = service.links().url(staff_id, staff_no)
    qr = segno.make(url, error="m")
    until = dt.datetime.fromtimestamp(service.clock() + service.links().seconds, svc.timezone())
    return render_template("me/code.html", name=name, staff_no=staff_no, url=url,
                           qr=qr.svg_data_uri(scale=6, border=2), until=until.strftime("%H:%M"))

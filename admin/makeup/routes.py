from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from app.attendance import rules
from app.i18n import has
from app.store import MakeupRequest

from ..context import services
from ..i18n import gettext as _
from ..i18n import language
from ..paging import page_number
from . import service

bp = Blueprint("makeup", __name__, url_prefix="/makeup")


def said(exc: service.MakeupError) -> str:
    """The refusal in the page's language when the catalogue has it."""
    return _(exc.key, **exc.values) if exc.key and has(exc.key) else str(exc)
PAGE_SIZE = 50


@bp.get("/")
def index(error: str | None = None, form=None, status: int = 400):
    state = request.args.get("state", "pending")
    pg = page_number()
    where = [] if state == "all" else [MakeupRequest.state == state]
    tz = services().timezone()
    with services().store.session() as s:
        total = s.scalar(select(func.count()).select_from(MakeupRequest).where(*where))
        rows = list(s.scalars(select(MakeupRequest).where(*where).order_by(MakeupRequest.id.desc())
                              .offset((pg - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    shown = [(r, r.punched_at.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M")) for r in rows]
    return render_template("makeup/index.html", rows=shown, state=state, page=pg, total=total,
                           leave_text=lambda kind: rules.leave_text(kind, language()),
                           pages=max(1, -(-total // PAGE_SIZE)), error=error, form=form or {}), \
        (status if error else 200)


@bp.post("/")
def create():
    try:
        service.create(services(), request.form.get("staff_no", ""), request.form.get("time", ""),
                       request.form.get("reason", ""), g.actor)
    except service.MakeupError as exc:
        return index(error=_(exc.key, **exc.values), form=request.form)
    flash(_("补卡已创建"))
    return redirect(url_for("makeup.index"))


@bp.post("/bulk")
def bulk():
    """Approve or reject the ticked requests, one by one."""
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        abort(400, description="decision: approve or reject")
    try:
        ids = [int(v) for v in request.form.getlist("ids")]
    except ValueError:
        abort(400, description="ids: numbers")
    if not ids:
        flash(_("请先勾选申请"))
        return redirect(url_for("makeup.index")), 303
    done, refused = service.decide_many(services(), ids, decision == "approve", g.actor)
    flash(_("已处理 {done} 条", done=done))
    for request_id, exc in refused:
        flash(f"#{request_id}: {said(exc)}")
    return redirect(url_for("makeup.index"))


@bp.post("/<int:request_id>/<any(approve, reject):decision>")
def decide(request_id: int, decision: str):
    try:
        service.decide(services(), request_id, decision == "approve", g.actor)
    except LookupError:
        abort(404)
    except service.MakeupError as exc:
        return index(error=_(exc.key, **exc.values), status=409)
    flash(_("已处理"))
    return redirect(url_for("makeup.index"))

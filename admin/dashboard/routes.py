from __future__ import annotations

import datetime as dt
import json
import time

from flask import Blueprint, Response, current_app, jsonify, render_template, request, stream_with_context
from sqlalchemy import distinct, func, select

from app.store import MakeupRequest, Punch, Staff

from ..context import services

bp = Blueprint("dashboard", __name__)
FEED_SIZE = 20


def punch_event(p: Punch, tz) -> dict:
    at = p.punched_at.replace(tzinfo=dt.UTC).astimezone(tz)
    return {"id": p.id, "staff_no": p.staff_no, "name": p.name, "time": at.strftime("%Y-%m-%d %H:%M:%S"),
            "source": p.source}


def counts() -> dict:
    svc = services()
    today = svc.today()
    with svc.store.session() as s:
        today_q = select(func.count()).select_from(Punch).where(Punch.local_date == today)
        return {
            "punches_today": s.scalar(today_q),
            "people_today": s.scalar(select(func.count(distinct(Punch.staff_no))).where(Punch.local_date == today)),
            "active_staff": s.scalar(select(func.count()).select_from(Staff).where(Staff.active.is_(True))),
            "makeup_pending": s.scalar(select(func.count()).select_from(MakeupRequest)
                                       .where(MakeupRequest.state == "pending")),
        }


@bp.get("/")
def index():
    svc = services()
    tz = svc.timezone()
    with svc.store.session() as s:
        recent = [punch_event(p, tz) for p in
                  s.scalars(select(Punch).order_by(Punch.id.desc()).limit(FEED_SIZE))]
    return render_template("dashboard/index.html", counts=counts(), status=svc.status(), recent=recent,
                           last_id=recent[0]["id"] if recent else 0)


@bp.get("/dashboard/status.json")
def status():
    return jsonify({"counts": counts(), "status": services().status()})


@bp.get("/dashboard/events")
def events():
    """New punches as server-sent events, read from the database (in-process or standalone)."""
    svc = services()
    tz = svc.timezone()
    after = request.headers.get("Last-Event-ID", type=int) or request.args.get("after", 0, type=int)
    limit_s = current_app.config["SSE_MAX_SECONDS"]
    poll_s = current_app.config["SSE_POLL_SECONDS"]

    def stream():
        nonlocal after
        yield "retry: 2000\n\n"
        ends = time.monotonic() + limit_s
        while True:
            with svc.store.session() as s:
                rows = list(s.scalars(select(Punch).where(Punch.id > after).order_by(Punch.id).limit(100)))
            for p in rows:
                after = p.id
                yield f"id: {p.id}\nevent: punch\ndata: {json.dumps(punch_event(p, tz), ensure_ascii=False)}\n\n"
            if time.monotonic() >= ends:
                return  # the browser reconnects with Last-Event-ID: no thread is held for ever
            yield ": keep-alive\n\n"
            time.sleep(poll_s)

    return Response(stream_with_context(stream()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

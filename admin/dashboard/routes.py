from __future__ import annotations

import datetime as dt
import json
import threading
import time

from flask import (Blueprint, Response, abort, current_app, jsonify, render_template, request,
                   stream_with_context)
from sqlalchemy import distinct, func, select

from app.store import MakeupRequest, Punch, Staff

from ..context import services
from ..i18n import gettext
from ..labels import source_label

bp = Blueprint("dashboard", __name__)
FEED_SIZE = 20
MAX_EVENT_ID = 2**63 - 1     # the largest id a database integer holds
BUSY_RETRY_MS = 10_000       # a tab over the stream cap asks again this much later


class StreamSlots:
    """Open live-feed streams, at most ``limit`` at a time.

    Each open stream holds one of the web server's worker threads for up to SSE_MAX_SECONDS:
    without a cap, a few dashboard tabs hold them all and /health and the HR API wait.
    """

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self.open = 0
        self._lock = threading.Lock()

    def take(self):
        """A release function for a new stream, or None when ``limit`` streams are open."""
        with self._lock:
            if self.open >= self.limit:
                return None
            self.open += 1
        released = threading.Event()

        def release():
            if not released.is_set():
                released.set()
                with self._lock:
                    self.open -= 1
        return release


def stream_slots(app) -> StreamSlots:
    return app.extensions["daka_sse_slots"]


def punch_event(p: Punch, tz) -> dict:
    at = p.punched_at.replace(tzinfo=dt.UTC).astimezone(tz)
    return {"id": p.id, "staff_no": p.staff_no, "name": p.name, "time": at.strftime("%Y-%m-%d %H:%M:%S"),
            "source": p.source, "source_text": source_label(p.source)}


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
    after = _last_event_id()
    slots = stream_slots(current_app)
    # Over the cap the tab still gets what is new, then is told to come back later: it polls,
    # and holds no worker thread while it waits.
    release = slots.take()
    streaming = release is not None
    limit_s = current_app.config["SSE_MAX_SECONDS"] if streaming else 0.0
    poll_s = current_app.config["SSE_POLL_SECONDS"]

    def stream():
        nonlocal after
        yield f"retry: {2000 if streaming else BUSY_RETRY_MS}\n\n"
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

    response = Response(stream_with_context(stream()), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    if streaming:
        # The server closes every response it served (ended, cut off, or a HEAD never read):
        # the slot comes back then, whichever way the stream ended.
        response.call_on_close(release)
    return response


def _last_event_id() -> int:
    """The id the browser last saw (Last-Event-ID on a reconnect, else ?after=), checked."""
    text = request.headers.get("Last-Event-ID") or request.args.get("after") or "0"
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_EVENT_ID:
        abort(400, description=gettext("无效的事件编号"))
    return value

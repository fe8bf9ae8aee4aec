"""The records pages: stranger and spoof records, and one punch's detail.

Who sees what: viewers (HR) read the lists, the exports and a punch's detail, as they read
attendance; the face snapshots (pictures of people's faces, personal data) are shown to
administrators only. A snapshot is served only from inside the snapshots folder: its stored
name is resolved and checked (``face_events.snapshot_path``), never trusted.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_login import current_user

from app.attendance import face_events
from app.attendance.localtime import FIRST_DATE, LAST_DATE, LocalTimes
from app.store import Punch
from app.store.models import FACE_EVENT_KINDS

from ..attendance.export import iter_csv, to_xlsx
from ..context import services
from ..i18n import gettext as _
from ..paging import page_number
from ..security import require_admin

bp = Blueprint("records", __name__, url_prefix="/records")
PAGE_SIZE = 50
FILTER_ARGS = ("from", "to", "kind")
MAX_DAYS = 366

KIND_LABELS = {"stranger": "陌生人", "spoof": "活体拒绝"}
# recognition and liveness reasons, as a person reads them (the code is shown when unknown)
REASON_LABELS = {
    "below_threshold": "与人脸库中的人都不够相似",
    "empty_gallery": "人脸库为空",
    "scale": "人脸大小与距离不符（照片或屏幕）",
    "texture": "图像纹理像照片或屏幕",
    "context": "人脸周围有边框（照片或屏幕）",
    "depth": "人脸是平面（照片或屏幕）",
    "challenge_timeout": "未按提示动作",
}
SOURCE_LABELS = {"face": "刷脸", "makeup": "补卡", "manual": "手工"}


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def reason_label(reason: str) -> str:
    return _(REASON_LABELS[reason]) if reason in REASON_LABELS else (reason or "")


def _form() -> face_events.EventFilter:
    """?from=&to=&kind=; a bad one is a 400 that says why (the days are terminal-local dates)."""
    today = services().today()
    try:
        first = dt.date.fromisoformat(request.args.get("from") or (today - dt.timedelta(days=6)).isoformat())
        last = dt.date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        abort(400, description=_("日期格式应为 2026-01-31"))
    if not all(FIRST_DATE <= d <= LAST_DATE for d in (first, last)):
        abort(400, description=_("日期超出范围（1900 至 9998 年）"))
    if last < first:
        abort(400, description=_("结束日期早于开始日期"))
    if (last - first).days > MAX_DAYS:
        abort(400, description=_("一次最多查询一年"))
    kind = request.args.get("kind", "").strip()
    if kind and kind not in FACE_EVENT_KINDS:
        abort(400, description=_("未知的记录类型"))
    return face_events.EventFilter(first, last, kind)


def _args() -> dict:
    return {k: v for k, v in request.args.items() if k in FILTER_ARGS}


def _is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin"


@bp.get("/")
def index():
    f = _form()
    pg = page_number()
    store = services().store
    total = face_events.count(store, f)
    local = LocalTimes(services().timezone())
    rows = [(e, local(e.at)) for e in face_events.listed(store, f, offset=(pg - 1) * PAGE_SIZE, limit=PAGE_SIZE)]
    return render_template("records/index.html", rows=rows, total=total, page=pg,
                           pages=max(1, -(-total // PAGE_SIZE)), f=f, args=_args(), kinds=FACE_EVENT_KINDS,
                           kind_label=kind_label, reason_label=reason_label, show_photos=_is_admin(),
                           enabled=services().setting("records.face_events"),
                           keep_days=services().setting("records.face_event_days"))


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    f = _form()
    local = LocalTimes(services().timezone())
    header = [_("时间"), _("类型"), _("原因"), _("相似度"), _("最接近的人"), _("设备"), _("抓拍")]
    data = ([local(e.at), kind_label(e.kind), reason_label(e.reason),
             "" if e.similarity is None else round(e.similarity, 3),
             f"{e.candidate_staff_no} {e.candidate_name}" if e.candidate_staff_no else "", e.device_id,
             e.snapshot_file or ""]
            for e in face_events.iter_listed(services().store, f))
    name = f"records-{f.first.isoformat()}_{f.last.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f"attachment; filename={name}"}
    if fmt == "csv":
        return Response(stream_with_context(iter_csv(header, data)), mimetype="text/csv; charset=utf-8",
                        headers=headers)
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(to_xlsx(header, data, "records"), mimetype=mime, headers=headers)


@bp.get("/event/<int:event_id>/snapshot.jpg")
def event_snapshot(event_id: int):
    require_admin()
    event = face_events.get(services().store, event_id)
    return _snapshot(event.snapshot_file if event is not None else None)


@bp.get("/punch/<int:punch_id>")
def punch(punch_id: int):
    with services().store.session() as s:
        p = s.get(Punch, punch_id)
    if p is None:
        abort(404, description=_("没有这条打卡记录"))
    local = LocalTimes(services().timezone())
    has_photo = _snapshot_file(p.snapshot_file) is not None
    return render_template("records/punch.html", p=p, when=local(p.punched_at), has_photo=has_photo,
                           show_photos=_is_admin(), source_label=_(SOURCE_LABELS[p.source])
                           if p.source in SOURCE_LABELS else p.source)


@bp.get("/punch/<int:punch_id>/snapshot.jpg")
def punch_snapshot(punch_id: int):
    require_admin()
    with services().store.session() as s:
        p = s.get(Punch, punch_id)
    return _snapshot(p.snapshot_file if p is not None else None)


def _snapshot_file(name: str | None):
    return face_events.snapshot_path(services().instance.snapshots_dir, name)


def _snapshot(name: str | None):
    path = _snapshot_file(name)
    if path is None:
        abort(404, description=_("没有抓拍照片"))
    try:
        data = path.read_bytes()   # small (a face, ~20 KB); read whole: no file left open by a client gone
    except OSError:   # deleted by retention since the check
        abort(404, description=_("没有抓拍照片"))
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, no-store"})

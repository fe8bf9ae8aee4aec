"""补卡 workflow: an approved request becomes a punch with source ``makeup`` (and goes to HR)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from app.attendance import PunchAudit, PunchRecord, PunchWriter
from app.attendance.localtime import FIRST_DATE, LAST_DATE
from app.config import resolve_device_id
from app.i18n import text
from app.store import MakeupRequest, Staff
from app.store.models import utcnow

from ..context import AdminServices


class MakeupError(ValueError):
    """A refused make-up request: ``key`` is a catalogue key (its Chinese text), ``values`` fill it."""

    def __init__(self, key: str, **values):
        super().__init__(text(key, **values))  # in Chinese, the default
        self.key, self.values = key, values


def create(svc: AdminServices, staff_no: str, local_time: str, reason: str, actor: str) -> int:
    tz = svc.timezone()
    try:
        at = dt.datetime.strptime(local_time.strip().replace("T", " ")[:16], "%Y-%m-%d %H:%M")
    except ValueError as exc:
        raise MakeupError("补卡时间格式应为 2026-11-24 08:30") from exc
    if not FIRST_DATE <= at.date() <= LAST_DATE:  # the zone shift would overflow at the edges
        raise MakeupError("补卡时间超出范围（{first} 至 {last} 年）", first=FIRST_DATE.year, last=LAST_DATE.year)
    aware = at.replace(tzinfo=tz)
    if aware > dt.datetime.now(tz) + dt.timedelta(minutes=1):
        raise MakeupError("补卡时间不能晚于现在")
    reason = reason.strip()
    if len(reason) > 255:
        raise MakeupError("事由最多 255 个字")
    with svc.store.session() as s:
        st = s.scalar(select(Staff).where(Staff.staff_no == staff_no.strip()))
        if st is None:
            raise MakeupError("没有工号为 {staff_no} 的人员，请检查工号", staff_no=staff_no.strip()[:32])
        req = MakeupRequest(staff_id=st.id, staff_no=st.staff_no, name=st.name,
                            punched_at=aware.astimezone(dt.UTC).replace(tzinfo=None), local_date=at.date(),
                            reason=reason, requested_by=actor)
        s.add(req)
        s.flush()
        svc.store.audit(s, actor, "makeup_create", request=req.id, staff_no=st.staff_no,
                        time=at.isoformat(sep=" "), reason=reason)
        return req.id


def _writer(svc: AdminServices) -> PunchWriter:
    """The punch writer whose outbox rule applies: the one face punches go through.

    Inside ``daka run`` it is the terminal's (it follows ``push.webhook_url`` at once); a
    standalone admin has no terminal and builds one with the setting the terminal follows.
    """
    if svc.attendance is not None:
        return svc.attendance.writer
    return PunchWriter(svc.store, push_enabled=bool(svc.settings.get("push.webhook_url")))


def decide(svc: AdminServices, request_id: int, approve: bool, actor: str) -> int | None:
    """Approve (the new punch's id) or reject (None) a pending request."""
    with svc.store.session() as s:
        req = s.get(MakeupRequest, request_id, with_for_update=True)
        if req is None:
            raise LookupError(request_id)
        if req.state != "pending":
            raise MakeupError("这条补卡申请已处理过，无需再次处理")
        req.state, req.decided_by, req.decided_at = ("approved" if approve else "rejected"), actor, utcnow()
        detail = {"request": request_id, "staff_no": req.staff_no}
        if not approve:
            svc.store.audit(s, actor, "makeup_reject", **detail, punch=None)
            return None
        at = req.punched_at.replace(tzinfo=dt.UTC)
        record = PunchRecord(uuid.uuid4(), req.staff_id, req.staff_no, req.name, at, req.local_date,
                             at.astimezone(svc.timezone()).strftime("%H:%M:%S"),
                             resolve_device_id(svc.config), None, "makeup")
        (punch_id,) = _writer(svc).write(s, [record], audit=PunchAudit(actor, "makeup_approve", detail))
        req.punch_id = punch_id
        return punch_id

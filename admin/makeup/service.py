"""补卡 workflow: an approved request becomes a punch with source ``makeup`` (and goes to HR)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, update

from app.attendance import PunchAudit, PunchRecord, PunchWriter, rules
from app.attendance.localtime import FIRST_DATE, LAST_DATE
from app.attendance.push import pushes_here
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


class RulesRefused(MakeupError):
    """The attendance rules refused an approved leave (an overlapping leave ...): the key is the
    rules' own catalogue key (``attendance.error.*``), passed on so the page says it in its language."""


MAX_PENDING_PER_PERSON = 10  # what one staff member may have waiting (the phone form is anonymous)


def _check_pending(s, staff_id: int) -> None:
    waiting = s.scalar(select(func.count()).select_from(MakeupRequest)
                       .where(MakeupRequest.staff_id == staff_id, MakeupRequest.state == "pending"))
    if waiting >= MAX_PENDING_PER_PERSON:
        raise MakeupError("待审批的申请已有 {count} 条，请等人事处理后再提交", count=waiting)


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
        if actor.startswith(SELF_ACTOR):
            _check_pending(s, st.id)
        req = MakeupRequest(staff_id=st.id, staff_no=st.staff_no, name=st.name,
                            punched_at=aware.astimezone(dt.UTC).replace(tzinfo=None), local_date=at.date(),
                            reason=reason, requested_by=actor)
        s.add(req)
        s.flush()
        svc.store.audit(s, actor, "makeup_create", request=req.id, staff_no=st.staff_no,
                        time=at.isoformat(sep=" "), reason=reason)
        return req.id


SELF_ACTOR = "self:"  # requests a staff member made from their phone: "self:<staff no>"


def create_leave(svc: AdminServices, staff_no: str, first: dt.date, last: dt.date, kind: str, reason: str,
                 actor: str) -> int:
    """A leave asked for (approved into the attendance rules' leave table)."""
    if kind not in rules.LEAVE_KINDS:
        raise MakeupError("请选择请假类型")
    if last < first:
        raise MakeupError("结束日期早于开始日期")
    if (last - first).days > 60:
        raise MakeupError("一次最多申请 60 天")
    reason = reason.strip()
    if len(reason) > 255:
        raise MakeupError("事由最多 255 个字")
    with svc.store.session() as s:
        st = s.scalar(select(Staff).where(Staff.staff_no == staff_no.strip()))
        if st is None:
            raise MakeupError("没有工号为 {staff_no} 的人员，请检查工号", staff_no=staff_no.strip()[:32])
        _check_pending(s, st.id)
        tz = svc.timezone()
        start = dt.datetime.combine(first, dt.time(0, 0), tz).astimezone(dt.UTC).replace(tzinfo=None)
        req = MakeupRequest(staff_id=st.id, staff_no=st.staff_no, name=st.name, punched_at=start, local_date=first,
                            reason=reason, requested_by=actor, kind="leave", leave_type=kind, leave_end=last)
        s.add(req)
        s.flush()
        svc.store.audit(s, actor, "leave_request", request=req.id, staff_no=st.staff_no, first=first.isoformat(),
                        last=last.isoformat(), kind=kind, reason=reason)
        return req.id


def _writer(svc: AdminServices) -> PunchWriter:
    """The punch writer whose outbox rule applies: the one face punches go through.

    Inside ``daka run`` it is the terminal's (it follows ``push.webhook_url`` at once); a
    standalone admin has no terminal and builds one by the terminal's rule (a fleet terminal's
    punches are queued and delivered at the centre).
    """
    if svc.attendance is not None:
        return svc.attendance.writer
    return PunchWriter(svc.store, push_enabled=pushes_here(svc.settings.effective()[0]))


def _decide_leave(svc: AdminServices, request_id: int, approve: bool, actor: str) -> int | None:
    """Claim the request (pending -> decided, one writer wins), then add the leave through the
    rules' own call; if it refuses (an overlapping leave ...), the request is pending again."""
    state = "approved" if approve else "rejected"
    with svc.store.session() as s:
        claimed = s.execute(update(MakeupRequest).where(MakeupRequest.id == request_id,
                                                        MakeupRequest.state == "pending")
                            .values(state=state, decided_by=actor, decided_at=utcnow())).rowcount
        req = s.get(MakeupRequest, request_id)
        if not claimed:
            raise MakeupError("这条补卡申请已处理过，无需再次处理")
        staff_id, first, last, kind, note = req.staff_id, req.local_date, req.leave_end, req.leave_type, req.reason
        detail = {"request": request_id, "staff_no": req.staff_no}
        if not approve:
            svc.store.audit(s, actor, "leave_reject", **detail)
            return None
    try:
        if staff_id is None:
            raise rules.RuleError("attendance.error.not_found")
        leave_id = rules.add_leave(svc.store, staff_id, first, last, kind, note, actor)
    except rules.RuleError as exc:
        with svc.store.session() as s:
            s.execute(update(MakeupRequest).where(MakeupRequest.id == request_id)
                      .values(state="pending", decided_by=None, decided_at=None))
        raise RulesRefused(exc.key, **exc.values) from exc
    with svc.store.session() as s:
        svc.store.audit(s, actor, "leave_approve", **detail, leave=leave_id)
    return leave_id


def decide(svc: AdminServices, request_id: int, approve: bool, actor: str) -> int | None:
    """Approve (the new punch's or leave's id) or reject (None) a pending request."""
    with svc.store.session() as s:
        kind = s.scalar(select(MakeupRequest.kind).where(MakeupRequest.id == request_id))
    if kind is None:
        raise LookupError(request_id)
    if kind == "leave":
        return _decide_leave(svc, request_id, approve, actor)
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


def decide_many(svc: AdminServices, request_ids, approve: bool, actor: str
                ) -> tuple[int, list[tuple[int, MakeupError]]]:
    """Decide each pending request in turn (each in its own transaction, so one refused, e.g. a leave
    over another, leaves the others decided): (how many were decided, [(id, why refused)])."""
    done, refused = 0, []
    for request_id in dict.fromkeys(request_ids):  # each once, in the order given
        try:
            decide(svc, request_id, approve, actor)
            done += 1
        except LookupError:
            refused.append((request_id, MakeupError("未找到")))
        except MakeupError as exc:
            refused.append((request_id, exc))
    return done, refused

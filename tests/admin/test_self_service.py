"""Issue 24, section 3: the staff member's own page, opened by a signed, one-time, ten-minute link
bound to one person; requests made there reach HR, who approves them one by one or in bulk, and
the outcome shows on the page and in the day statuses."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from app.store import Leave, MakeupRequest, Punch, Staff
from tests.helpers.admin_app import build_app, csrf_token, login, post
from tests.helpers.attendance_rules import TZ, person, punch, shift, weekly

HR_PW = "human resources 3"
START = dt.datetime(2026, 11, 20, 12, 0, tzinfo=TZ).timestamp()  # a Friday, noon in Shanghai


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def world(admin_config, instance, sqlite_store):
    from admin.auth.users import create_user

    clock = Clock(START)
    app = build_app(admin_config(), instance, sqlite_store)
    app.config["SELF_SERVICE_CLOCK"] = clock
    create_user(sqlite_store, "hrm", HR_PW, "hr", actor="test")
    create_user(sqlite_store, "viewer", "just looking 4", "viewer", actor="test")
    sid = person(sqlite_store, "E1", "张三")
    weekly(sqlite_store, shift(sqlite_store), department="生产部")
    punch(sqlite_store, sid, "E1", "2026-11-16 08:55")
    punch(sqlite_store, sid, "E1", "2026-11-16 18:05")
    punch(sqlite_store, sid, "E1", "2026-11-17 08:58")   # no punch out: 缺卡
    return app, clock, sid


def link(app, staff_id: int, staff_no: str, *, key: bytes | None = None) -> str:
    """The path a QR code carries (the host part is the terminal's LAN address)."""
    from app.services.selflink import SelfLinks, instance_key

    secret = key or instance_key(app.extensions["daka_admin"].instance.root)
    url = SelfLinks(secret, "http://terminal:8080", clock=app.config["SELF_SERVICE_CLOCK"]).url(staff_id, staff_no)
    return url.removeprefix("http://terminal:8080")


def days_table(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr class="status-(\w+)"><td>(\d\d-\d\d)</td>', html)
    return {day: status for status, day in rows}


def test_a_link_opens_the_persons_month_once(world):
    app, _clock, sid = world
    phone = app.test_client()
    path = link(app, sid, "E1")
    opened = phone.get(path)
    assert opened.status_code == 302 and opened.location.endswith("/me/")
    page = phone.get("/me/").get_data(as_text=True)
    assert "张三" in page and "E1" in page
    days = days_table(page)
    assert days["11-16"] == "normal" and days["11-17"] == "missing" and days["11-18"] == "absent"
    assert "11-21" not in days  # nothing after today
    # the same link on another phone (a photo of the QR code) opens nothing
    other = app.test_client().get(path)
    assert other.status_code == 403 and "链接已使用过" in other.get_data(as_text=True)


def test_a_link_and_its_page_last_ten_minutes(world):
    app, clock, sid = world
    late = app.test_client()
    path = link(app, sid, "E1")
    clock.t += 601
    r = late.get(path)
    assert r.status_code == 403 and "链接已过期" in r.get_data(as_text=True)
    phone = app.test_client()
    assert phone.get(link(app, sid, "E1")).status_code == 302
    assert phone.get("/me/").status_code == 200
    clock.t += 601
    assert phone.get("/me/").status_code == 403


def test_a_tampered_or_foreign_link_opens_nothing(world, sqlite_store):
    app, _clock, sid = world
    other = person(sqlite_store, "E2", "李四")
    good = link(app, sid, "E1")
    payload, rest = good.removeprefix("/me/open/").split(".", 1)
    # the payload rewritten for someone else, the signature kept
    import base64
    import json

    forged_payload = base64.urlsafe_b64encode(json.dumps({"s": other, "n": "E2", "j": "x"}).encode()).decode().rstrip("=")
    for path in ("/me/open/" + forged_payload + "." + rest,
                 good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
                 link(app, sid, "E1", key=b"k" * 48),          # signed with another terminal's key
                 link(app, sid, "E2"),                          # E1's id with E2's staff no
                 "/me/open/nonsense"):
        r = app.test_client().get(path)
        assert r.status_code == 403 and "链接无效" in r.get_data(as_text=True), path
    assert app.test_client().get("/me/").status_code == 403  # no link, no page
    # a deleted person's link stays dead even if their id comes back for someone else
    stale = link(app, other, "E2")
    with sqlite_store.session() as s:
        s.delete(s.get(Staff, other))
    person(sqlite_store, "E3", "王五")
    assert app.test_client().get(stale).status_code == 403


def test_the_page_asks_only_for_its_own_person(world, sqlite_store):
    app, _clock, sid = world
    person(sqlite_store, "E2", "李四")
    phone = app.test_client()
    phone.get(link(app, sid, "E1"))
    token = csrf_token(phone, "/me/")
    r = phone.post("/me/request", data={"csrf_token": token, "kind": "punch", "time": "2026-11-17T18:02",
                                        "reason": "忘记打卡", "staff_no": "E2"})
    assert r.status_code == 302
    with sqlite_store.session() as s:
        req = s.scalar(select(MakeupRequest))
    assert (req.staff_no, req.requested_by, req.state) == ("E1", "self:E1", "pending")
    bad = phone.post("/me/request", data={"csrf_token": token, "kind": "punch", "time": "", "reason": "x"})
    assert bad.status_code == 400 and "请填写补卡时间" in bad.get_data(as_text=True)


def test_requests_approved_in_bulk_flow_into_the_days(world, sqlite_store):
    app, _clock, sid = world
    phone = app.test_client()
    phone.get(link(app, sid, "E1"))
    token = csrf_token(phone, "/me/")
    assert phone.post("/me/request", data={"csrf_token": token, "kind": "punch", "time": "2026-11-17T18:02",
                                           "reason": "忘记打卡"}).status_code == 302
    assert phone.post("/me/request", data={"csrf_token": token, "kind": "leave", "leave_type": "sick",
                                           "first": "2026-11-18", "last": "2026-11-18", "reason": "发烧"}
                      ).status_code == 302
    assert "待审批" in phone.get("/me/").get_data(as_text=True)

    hr = app.test_client()
    assert login(hr, "hrm", HR_PW).status_code == 302
    assert 'id="pending-requests"' in hr.get("/").get_data(as_text=True)
    listing = hr.get("/makeup/").get_data(as_text=True)
    ids = re.findall(r'name="ids" value="(\d+)"', listing)
    assert len(ids) == 2 and "本人（手机）" in listing
    r = hr.post("/makeup/bulk", data={"csrf_token": csrf_token(hr, "/makeup/"), "decision": "approve", "ids": ids})
    assert r.status_code == 302
    with sqlite_store.session() as s:
        states = set(s.scalars(select(MakeupRequest.state)))
        made = s.scalar(select(Punch).where(Punch.source == "makeup"))
        leave = s.scalar(select(Leave))
    assert states == {"approved"} and made.local_date == dt.date(2026, 11, 17)
    assert (leave.staff_id, leave.first, leave.last, leave.kind) == (sid, dt.date(2026, 11, 18),
                                                                   dt.date(2026, 11, 18), "sick")
    page = phone.get("/me/").get_data(as_text=True)
    days = days_table(page)
    assert days["11-17"] == "normal" and days["11-18"] == "leave"
    assert "已批准" in page and "待审批" not in page
    staff_page = hr.get(f"/staff/{sid}").get_data(as_text=True)
    assert staff_page.count('class="state-approved"') == 2


def test_a_refused_leave_stays_pending_and_others_are_decided(world, sqlite_store):
    from app.attendance import rules

    app, _clock, sid = world
    rules.add_leave(sqlite_store, sid, dt.date(2026, 11, 18), dt.date(2026, 11, 18), "annual", "", "test")
    phone = app.test_client()
    phone.get(link(app, sid, "E1"))
    token = csrf_token(phone, "/me/")
    for data in ({"kind": "leave", "leave_type": "sick", "first": "2026-11-18", "last": "2026-11-19"},
                 {"kind": "punch", "time": "2026-11-17T18:02", "reason": "忘记打卡"}):
        assert phone.post("/me/request", data={"csrf_token": token, **data}).status_code == 302
    hr = app.test_client()
    login(hr, "hrm", HR_PW)
    with sqlite_store.session() as s:
        ids = [str(i) for i in s.scalars(select(MakeupRequest.id).order_by(MakeupRequest.id))]
    hr.post("/makeup/bulk", data={"csrf_token": csrf_token(hr, "/makeup/"), "decision": "approve", "ids": ids})
    with sqlite_store.session() as s:
        states = [r.state for r in s.scalars(select(MakeupRequest).order_by(MakeupRequest.id))]
    assert states == ["pending", "approved"]  # the overlapping leave is refused, the punch goes through
    assert f"#{ids[0]}" in hr.get("/makeup/").get_data(as_text=True)


def test_opening_links_is_rate_limited_per_address(world):
    app, _clock, sid = world
    from admin.me.routes import OPEN_LIMIT

    client = app.test_client()
    answers = [client.get("/me/open/nonsense").status_code for _ in range(OPEN_LIMIT + 1)]
    assert answers[:OPEN_LIMIT] == [403] * OPEN_LIMIT and answers[-1] == 429
    # the owner's own fresh link is refused too from that address until the window passes
    assert client.get(link(app, sid, "E1")).status_code == 429


def test_hr_prints_a_one_time_code_and_a_viewer_cannot(world):
    app, _clock, sid = world
    hr = app.test_client()
    login(hr, "hrm", HR_PW)
    page = hr.get(f"/me/code/{sid}").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and "张三" in page
    viewer = app.test_client()
    login(viewer, "viewer", "just looking 4")
    assert viewer.get(f"/me/code/{sid}").status_code == 403
    assert post(viewer, "/makeup/bulk", {"decision": "approve", "ids": ["1"]}, page="/makeup/").status_code == 403

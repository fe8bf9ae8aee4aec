"""考勤规则 pages (issue 24): shifts, schedules, assignments, the calendar, leave and hire dates,
set through the forms as HR does; viewers read but cannot change them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.helpers.admin_app import add_punch, add_staff, post


def _shift(client, **form):
    data = {"name": "白班", "kind": "fixed", "start": "09:00", "end": "18:00", "punches": "in_out",
            "late_grace_min": "5", "early_grace_min": "5", "break_min": "60", "overtime_after_min": "30"}
    data.update(form)
    return post(client, "/rules/shifts", data, page="/rules/shifts")


def _shift_id(store, name: str) -> int:
    from app.store import Shift

    with store.session() as s:
        return s.scalar(select(Shift.id).where(Shift.name == name))


def test_hr_sets_rules_through_the_forms_and_the_days_follow(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "00123", "王五", "生产部")
    assert _shift(admin_client).status_code == 302
    assert _shift(admin_client, name="夜班", start="20:00", end="08:00").status_code == 302
    html = admin_client.get("/rules/shifts").get_data(as_text=True)
    assert "白班" in html and "夜班" in html and "跨夜" in html
    day = _shift_id(sqlite_store, "白班")
    week = {f"day{i}": str(day) for i in range(5)}
    r = post(admin_client, "/rules/schedules", {"name": "标准", "kind": "weekly", "follow_calendar": "1", **week},
             page="/rules/schedules")
    assert r.status_code == 302
    from app.store import Schedule

    with sqlite_store.session() as s:
        schedule = s.scalar(select(Schedule.id).where(Schedule.name == "标准"))
    r = post(admin_client, "/rules/assignments", {"schedule_id": str(schedule), "target": "department",
                                                   "department": "生产部", "first": "2026-01-01"},
             page="/rules/schedules")
    assert r.status_code == 302
    assert "部门：生产部" in admin_client.get("/rules/schedules").get_data(as_text=True)
    r = post(admin_client, "/rules/leave", {"staff_no": "00123", "kind": "sick", "first": "2026-03-03",
                                             "last": "2026-03-03", "note": "发烧"}, page="/rules/leave")
    assert r.status_code == 302
    assert "病假" in admin_client.get("/rules/leave").get_data(as_text=True)
    r = post(admin_client, "/rules/calendar", {"day": "2026-03-04", "kind": "off", "name": "厂庆"},
             page="/rules/calendar")
    assert r.status_code == 302
    assert "厂庆" in admin_client.get("/rules/calendar?year=2026").get_data(as_text=True)
    r = post(admin_client, "/rules/dates", {"staff_no": "00123", "hire_date": "2026-03-02"}, page="/rules/leave")
    assert r.status_code == 302
    add_punch(sqlite_store, sid, "00123", "王五", dt.datetime(2026, 3, 2, 9, 20))
    add_punch(sqlite_store, sid, "00123", "王五", dt.datetime(2026, 3, 2, 18, 0))
    html = admin_client.get("/attendance/days?from=2026-03-01&to=2026-03-05&staff=00123").get_data(as_text=True)
    table = html.split('id="days"')[1]
    assert "2026-03-01" not in table                      # before the hire date: no row
    assert "迟到 20 分钟" in table and "病假：发烧" in table and "公司休息日：厂庆" in table
    assert "旷工" in table                                  # the 5th: nothing punched


def test_bad_input_is_a_clear_error_and_keeps_the_form(admin_client, sqlite_store):
    r = _shift(admin_client, name="坏班", start="9点", end="18:00")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "时间格式应为 09:00" in html and 'value="坏班"' in html
    r = post(admin_client, "/rules/leave", {"staff_no": "nobody", "kind": "sick", "first": "2026-03-03",
                                             "last": "2026-03-01"}, page="/rules/leave")
    assert r.status_code == 400 and "工号 nobody 不存在" in r.get_data(as_text=True)
    add_staff(sqlite_store, "A1", "甲")
    r = post(admin_client, "/rules/leave", {"staff_no": "A1", "kind": "sick", "first": "2026-03-03",
                                             "last": "2026-03-01"}, page="/rules/leave")
    assert r.status_code == 400 and "结束日期早于开始日期" in r.get_data(as_text=True)
    r = post(admin_client, "/rules/schedules", {"name": "轮", "kind": "rotating", "cycle": "白班,休",
                                                 "anchor": "2026-03-01"}, page="/rules/schedules")
    assert r.status_code == 400 and "没有名为“白班”的班次" in r.get_data(as_text=True)
    assert admin_client.get("/rules/calendar?year=abc").status_code == 400


def test_the_calendar_page_says_which_years_it_knows(admin_client):
    from app.attendance import rules

    first, last = rules.covered_years()
    html = admin_client.get(f"/rules/calendar?year={last}").get_data(as_text=True)
    assert f"{first}–{last}" in html and 'id="calendar-unknown"' not in html
    html = admin_client.get(f"/rules/calendar?year={last + 1}").get_data(as_text=True)
    assert 'id="calendar-unknown"' in html and "周一至周五上班" in html
    html = admin_client.get("/rules/calendar?year=2026").get_data(as_text=True)
    assert "2026-02-14" in html and "调休上班" in html and "春节" in html
    # the reports warn too when their month is in a year the library does not know
    assert 'id="calendar-note"' in admin_client.get(f"/attendance/monthly?month={last + 1}-01").get_data(as_text=True)
    assert 'id="calendar-note"' not in admin_client.get(f"/attendance/grid?month={last}-12").get_data(as_text=True)


def test_viewers_read_the_rules_but_cannot_change_them(viewer_client, admin_client, sqlite_store):
    assert _shift(admin_client).status_code == 302
    html = viewer_client.get("/rules/shifts").get_data(as_text=True)
    assert "白班" in html and 'id="shift-form"' not in html
    assert _shift(viewer_client, name="偷偷").status_code == 403
    r = post(viewer_client, f"/rules/shifts/{_shift_id(sqlite_store, '白班')}/delete", page="/rules/shifts")
    assert r.status_code == 403
    assert _shift_id(sqlite_store, "白班") is not None and _shift_id(sqlite_store, "偷偷") is None


@pytest.mark.parametrize("path", ["/rules/shifts", "/rules/shifts/1/delete", "/rules/schedules",
                                  "/rules/schedules/1/delete", "/rules/assignments", "/rules/assignments/1/delete",
                                  "/rules/calendar", "/rules/calendar/2026-03-04/delete", "/rules/leave",
                                  "/rules/leave/1/delete", "/rules/dates"])
def test_every_write_asks_the_one_writer_check(admin_client, monkeypatch, path):
    """The hr role is added in one place (admin/rules/access.py): with no writer role, even an
    administrator is refused on every write route."""
    from admin.rules import access

    monkeypatch.setattr(access, "WRITER_ROLES", ())
    assert post(admin_client, path, {"name": "x"}, page="/rules/shifts").status_code == 403


def test_a_shift_is_changed_through_its_form(admin_client, sqlite_store):
    from app.store import Shift

    assert _shift(admin_client).status_code == 302
    sid = _shift_id(sqlite_store, "白班")
    html = admin_client.get(f"/rules/shifts?edit={sid}").get_data(as_text=True)
    form = html.split('id="shift-form"')[1]
    assert f'name="id" value="{sid}"' in form and 'value="白班"' in form and 'value="30"' in form
    r = _shift(admin_client, id=str(sid), late_grace_min="10")
    assert r.status_code == 302
    with sqlite_store.session() as s:
        rows = list(s.scalars(select(Shift)))
        assert [(x.id, x.late_grace_min) for x in rows] == [(sid, 10)]

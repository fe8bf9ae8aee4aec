"""The central admin on a real fleet centre (issue 20): the devices page shows what the terminals'
own roles wrote (heartbeats, punches), flags a silent terminal, names each punch's terminal on the
attendance pages and exports, and keeps per-terminal setting overrides (checked, audited,
administrators only)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid

import openpyxl
import pytest
from sqlalchemy import select

from app.store import AuditEntry, open_store
from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, api_token, build_app, login, post
from tests.helpers.fleet import make_centre
from tests.helpers.fleet_admin import heartbeat

pytestmark = pytest.mark.postgres


@pytest.fixture
def centre(postgres_server, tmp_path):
    return make_centre(postgres_server, tmp_path, terminals=2)


@pytest.fixture
def central_store(centre, make_config, instance):
    store = open_store(make_config(), instance, url=centre.owner_url)
    yield store
    store.dispose()


@pytest.fixture
def central_app(central_store, make_config, instance):
    from admin.auth.users import create_user

    create_user(central_store, "admin", ADMIN_PW, "admin", actor="test")
    create_user(central_store, "hr", VIEWER_PW, "viewer", actor="test")
    return build_app(make_config(), instance, central_store)


@pytest.fixture
def admin(central_app):
    c = central_app.test_client()
    assert login(c, "admin", ADMIN_PW).status_code == 302
    return c


@pytest.fixture
def viewer(central_app):
    c = central_app.test_client()
    assert login(c, "hr", VIEWER_PW).status_code == 302
    return c


def _punch(centre, terminal, staff_no: str, name: str, at_utc: dt.datetime) -> None:
    with centre.connect(terminal.url) as c:
        c.execute("INSERT INTO punches (uuid, staff_no, name, punched_at, local_date, device_id, score, source, "
                  "created_at, status) VALUES (%s, %s, %s, %s, %s, %s, 0.9, 'face', now(), 0)",
                  (uuid.uuid4(), staff_no, name, at_utc, (at_utc + dt.timedelta(hours=8)).date(), terminal.device_id))


def _row(html: str, device_id: str) -> str:
    part = html.split(f'data-device="{device_id}"')[1].split("</tr>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip()


def test_the_devices_page_shows_each_terminal_heartbeat_and_flags_a_silent_one(centre, admin, viewer):
    t1, t2 = centre.terminals
    heartbeat(centre, t1, pending=3, error="camera lost once")
    heartbeat(centre, t2, minutes_ago=20)
    # the navigation offers the page on a centre
    assert 'id="nav-fleet"' in admin.get("/attendance/").get_data(as_text=True)
    for client in (admin, viewer):   # a viewer reads it too
        r = client.get("/fleet/")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        one, two = _row(html, t1.device_id), _row(html, t2.device_id)
        assert "gate 1" in one and "2.0.1" in one and "在线" in one and "camera lost once" in one
        assert re.search(r"\b3\b", one.split("2.0.1")[1])      # punches waiting in its journal
        assert "离线 20 分钟" in two and "在线" not in two
        tag = (lambda d: html.split(f'data-device="{d}"')[1].split(">")[0])   # the row's own attributes
        assert "silent" in tag(t2.device_id) and "silent" not in tag(t1.device_id)
    # the limit is the run-time setting fleet.silent_after_min
    r = post(admin, "/settings/", {"fleet.silent_after_min": "30"}, page="/settings/")
    assert r.status_code == 302
    assert "在线" in _row(admin.get("/fleet/").get_data(as_text=True), t2.device_id)


def test_a_terminal_never_heard_of_is_flagged_too(centre, admin):
    html = admin.get("/fleet/").get_data(as_text=True)
    assert "从未连接" in _row(html, centre.terminals[0].device_id)


def test_punches_uploaded_by_terminals_carry_the_terminal_name_and_filter(centre, admin, central_app):
    t1, t2 = centre.terminals
    day = dt.datetime(2026, 3, 2, 1, 0)   # 09:00 in Shanghai
    _punch(centre, t1, "1001", "张三", day)
    _punch(centre, t2, "1002", "李四", day + dt.timedelta(minutes=5))
    with centre.connect() as c:
        c.execute("UPDATE fleet_devices SET name = '东门闸机' WHERE device_id = %s", (t1.device_id,))
    html = admin.get("/attendance/?from=2026-03-02&to=2026-03-02").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', html.split('name="device"')[1].split("</select>")[0])
    assert (t1.device_id, f"东门闸机 ({t1.device_id})") in options and t2.device_id in [o[0] for o in options]
    one = admin.get(f"/attendance/?from=2026-03-02&to=2026-03-02&device={t1.device_id}").get_data(as_text=True)
    table = one.split('id="punches"')[1]
    assert "东门闸机" in table and "张三" in table and "李四" not in table
    r = admin.get(f"/attendance/export.xlsx?from=2026-03-02&to=2026-03-02&device={t1.device_id}")
    rows = [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(r.data)).active.iter_rows()]
    assert rows[1:] == [["1001", "张三", "2026-03-02 09:00:00", "face", "东门闸机"]]
    # the HR API: one terminal's punches, each with its device id
    token = api_token(central_app.extensions["daka_admin"].store)
    answer = central_app.test_client().post(
        "/api/get_attend_infos", headers={"Authorization": f"Bearer {token}"},
        json={"start_time": "2026-03-02", "end_time": "2026-03-02", "device": t2.device_id}).get_json()
    assert [(x["staff_id"], x["device_id"]) for x in answer] == [("1002", t2.device_id)]


def test_an_override_is_checked_stored_and_audited(centre, admin, central_store):
    t1, _t2 = centre.terminals
    page = f"/fleet/{t1.device_id}"
    r = post(admin, page, {"key": "attendance.dedupe_seconds", "value": "120"}, page=page)
    assert r.status_code == 302
    with centre.connect() as c:
        assert c.execute("SELECT key, value FROM fleet_device_settings WHERE device_id = %s",
                         (t1.device_id,)).fetchall() == [("attendance.dedupe_seconds", "120")]
    with centre.connect(t1.url) as c:   # the terminal reads its own override (its mirror applies it)
        assert c.execute("SELECT key, value FROM fleet_device_settings").fetchall() == [
            ("attendance.dedupe_seconds", "120")]
    html = admin.get(page).get_data(as_text=True)
    assert 'data-key="attendance.dedupe_seconds"' in html
    # a bad value is refused with the settings page's sentence, nothing stored
    bad = post(admin, page, {"key": "attendance.dedupe_seconds", "value": "-5"}, page=page)
    assert bad.status_code == 400
    message = bad.get_data(as_text=True).split('id="override-error"')[1].split("</p>")[0]
    assert "请输入" in message and "整数" in message
    assert admin.get("/fleet/nul%00id").status_code == 404   # no such device, not a database error
    not_a_key = post(admin, page, {"key": "no.such_key", "value": "1"}, page=page)
    assert not_a_key.status_code == 400 and "请从列表中选择一项设置" in not_a_key.get_data(as_text=True)
    with centre.connect() as c:
        assert c.execute("SELECT value FROM fleet_device_settings").fetchall() == [("120",)]
    with central_store.session() as s:
        entries = [(e.action, json.loads(e.detail)) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.like("device_setting%")).order_by(AuditEntry.id))]
    assert entries == [("device_setting", {"device": t1.device_id, "key": "attendance.dedupe_seconds",
                                           "old": None, "new": 120})]
    # removing it is audited too; the audit page names the action
    assert post(admin, page, {"remove": "attendance.dedupe_seconds"}, page=page).status_code == 302
    with centre.connect() as c:
        assert c.execute("SELECT count(*) FROM fleet_device_settings").fetchone() == (0,)
    assert "删除终端的单独设置" in admin.get("/system/audit").get_data(as_text=True)


def test_a_viewer_reads_but_cannot_change_overrides(centre, viewer, admin):
    t1, _t2 = centre.terminals
    page = f"/fleet/{t1.device_id}"
    assert post(admin, page, {"key": "ui.sound", "value": "false"}, page=page).status_code == 302
    html = viewer.get(page).get_data(as_text=True)
    assert 'data-key="ui.sound"' in html and 'id="override-form"' not in html
    for data in ({"key": "ui.sound", "value": "true"}, {"remove": "ui.sound"}):
        assert post(viewer, page, data, page=page).status_code == 403
    with centre.connect() as c:
        assert c.execute("SELECT key, value FROM fleet_device_settings").fetchall() == [("ui.sound", "false")]


def test_a_standalone_store_has_no_devices_page(app_on_sqlite):
    client, html = app_on_sqlite
    assert 'id="nav-fleet"' not in html
    assert client.get("/fleet/").status_code == 404


@pytest.fixture
def app_on_sqlite(make_config, instance):
    from admin.auth.users import create_user

    store = open_store(make_config(), instance)
    try:
        create_user(store, "admin", ADMIN_PW, "admin", actor="test")
        app = build_app(make_config(), instance, store)
        c = app.test_client()
        assert login(c, "admin", ADMIN_PW).status_code == 302
        yield c, c.get("/attendance/").get_data(as_text=True)
    finally:
        store.dispose()


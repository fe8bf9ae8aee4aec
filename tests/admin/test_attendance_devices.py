"""The device on every attendance page, the HR API and the exports (issue 20), on a standalone
SQLite terminal whose store holds punches of several devices (a terminal moved out of a fleet, or
a restored backup): the list, the daily detail, the monthly report, their exports and the API
filter by device and name it."""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest

from tests.helpers.admin_app import add_punch, add_staff, api_token

DAY = dt.date(2026, 3, 2)   # a Monday


@pytest.fixture
def gates(sqlite_store):
    """张三 punches in at gate-1 and out at canteen; 李四 only at canteen; 王五 only at gate-1."""
    store = sqlite_store
    a = add_staff(store, "A01", "张三")
    b = add_staff(store, "B02", "李四")
    c = add_staff(store, "C03", "王五")
    at = (lambda h, m: dt.datetime.combine(DAY, dt.time(h, m)))
    add_punch(store, a, "A01", "张三", at(8, 50), device_id="gate-1")
    add_punch(store, a, "A01", "张三", at(18, 5), device_id="canteen")
    add_punch(store, b, "B02", "李四", at(8, 55), device_id="canteen")
    add_punch(store, c, "C03", "王五", at(9, 1), device_id="gate-1")
    return {"a": a, "b": b, "c": c}


def _rows(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"')[1].split("</table>")[0].split("<tbody>")[1]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip() for r in body.split("</tr>") if "<td" in r]


def _device_options(html: str, form: str) -> list[str]:
    part = html.split(f'id="{form}"')[1].split("</form>")[0]
    select = part.split('name="device"')[1].split("</select>")[0]
    return re.findall(r'<option value="([^"]*)"', select)


def test_the_list_filters_by_device_from_a_list_of_the_known_devices(admin_client, gates):
    html = admin_client.get(f"/attendance/?from={DAY}&to={DAY}").get_data(as_text=True)
    # every device of the range is offered (and 全部), this terminal's own id too
    options = _device_options(html, "attendance-filter")
    assert options[0] == "" and {"gate-1", "canteen"} <= set(options)
    assert len(_rows(html, "punches")) == 4
    html = admin_client.get(f"/attendance/?from={DAY}&to={DAY}&device=gate-1").get_data(as_text=True)
    rows = _rows(html, "punches")
    assert len(rows) == 2 and all("gate-1" in r for r in rows) and not any("canteen" in r for r in rows)
    assert {"张三", "王五"} == {n for r in rows for n in ("张三", "李四", "王五") if n in r}
    assert '<option value="gate-1" selected' in html
    # the daily summary counts only that device's punches
    html = admin_client.get(f"/attendance/summary?from={DAY}&to={DAY}&device=canteen").get_data(as_text=True)
    rows = _rows(html, "summary")
    counts = {r.split()[2]: r.split()[5] for r in rows}   # no department: 7 cells
    assert counts == {"张三": "1", "李四": "1", "王五": "0"}
    # each day names its devices (every punch's, whatever the filter counts)
    devices = {r.split()[2]: r.split()[-1] for r in rows}
    assert devices["张三"] == "canteen、gate-1" and devices["李四"] == "canteen" and devices["王五"] == "gate-1"
    r = admin_client.get(f"/attendance/export.csv?view=summary&from={DAY}&to={DAY}")
    lines = r.data.decode("utf-8-sig").splitlines()
    assert lines[0].endswith(",设备") and {ln.split(",")[1]: ln.split(",")[-1] for ln in lines[1:]} == {
        "A01": "canteen、gate-1", "B02": "canteen", "C03": "gate-1"}


def test_the_xlsx_export_keeps_the_device_filter_and_names_the_device(admin_client, gates):
    r = admin_client.get(f"/attendance/export.xlsx?from={DAY}&to={DAY}&device=canteen")
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == ["工号", "姓名", "时间", "来源", "设备"]
    assert sorted((v[0], v[4]) for v in values[1:]) == [("A01", "canteen"), ("B02", "canteen")]


def test_the_api_takes_a_device_and_names_each_punch_device(admin_client, app, sqlite_store, gates):
    api = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(sqlite_store)}"}
    whole = {"start_time": str(DAY), "end_time": str(DAY)}
    every = api.post("/api/get_attend_infos", json=whole, headers=auth).get_json()
    assert [(x["staff_id"], x["device_id"]) for x in every] == [
        ("A01", "gate-1"), ("B02", "canteen"), ("C03", "gate-1"), ("A01", "canteen")]
    one = api.post("/api/get_attend_infos", json={**whole, "device": "gate-1"}, headers=auth).get_json()
    assert [(x["staff_id"], x["attend_time"]) for x in one] == [("A01", f"{DAY} 08:50:00"), ("C03", f"{DAY} 09:01:00")]
    # a range the database does not format (over 30 days: streamed by Python) filters the same way
    long = {"start_time": "2026-01-01", "end_time": "2026-03-31", "device": "canteen"}
    streamed = api.post("/api/get_attend_infos", json=long, headers=auth).get_json()
    assert [(x["staff_id"], x["device_id"]) for x in streamed] == [("B02", "canteen"), ("A01", "canteen")]
    assert api.post("/api/get_attend_infos", json={**whole, "device": "nowhere"}, headers=auth).get_json() == []
    bad = api.post("/api/get_attend_infos", json={**whole, "device": 7}, headers=auth)
    assert bad.status_code == 400 and "device" in bad.get_json()["message"]
    doc = admin_client.get("/docs/openapi.json").get_json()
    body = doc["paths"]["/api/get_attend_infos"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["device"]["type"] == "string"


def test_the_daily_detail_shows_each_day_devices_and_filters_people(admin_client, gates):
    html = admin_client.get(f"/attendance/days?from={DAY}&to={DAY}").get_data(as_text=True)
    rows = {r.split()[3]: r for r in _rows(html, "days")}
    assert rows["张三"].endswith("canteen、gate-1") and rows["李四"].endswith("canteen")
    assert _device_options(html, "report-filter")[0] == ""
    html = admin_client.get(f"/attendance/days?from={DAY}&to={DAY}&device=canteen").get_data(as_text=True)
    assert sorted(r.split()[3] for r in _rows(html, "days")) == ["张三", "李四"]
    ws = openpyxl.load_workbook(io.BytesIO(
        admin_client.get(f"/attendance/days.xlsx?from={DAY}&to={DAY}&device=gate-1").data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    header = next(i for i, v in enumerate(values) if v and v[0] == "日期")
    device_col = values[header].index("设备")
    assert sorted((v[1], v[device_col]) for v in values[header + 1:] if v[1]) == [
        ("A01", "canteen、gate-1"), ("C03", "gate-1")]


def test_the_monthly_report_names_the_devices_and_filters_people(admin_client, gates):
    html = admin_client.get("/attendance/monthly?month=2026-03&device=canteen").get_data(as_text=True)
    rows = _rows(html, "monthly")
    assert sorted(r.split()[1] for r in rows) == ["张三", "李四"]
    assert any(r.startswith("A01") and r.endswith("canteen、gate-1") for r in rows)
    r = admin_client.get("/attendance/monthly.csv?month=2026-03")
    lines = r.data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[-1] == "设备"
    assert {ln.split(",")[0]: ln.split(",")[-1] for ln in lines[1:]} == {
        "A01": "canteen、gate-1", "B02": "canteen", "C03": "gate-1"}
    # the monthly grid: the filter chooses the people, the last column names their devices
    html = admin_client.get("/attendance/grid?month=2026-03&device=gate-1").get_data(as_text=True)
    assert sorted(r.split()[0] for r in _rows(html, "grid")) == ["张三", "王五"]
    assert _device_options(html, "report-filter")[0] == ""
    lines = admin_client.get("/attendance/grid.csv?month=2026-03").data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[-1] == "设备"
    assert {ln.split(",")[0]: ln.split(",")[-1] for ln in lines[1:]}["A01"] == "canteen、gate-1"


def test_a_standalone_terminal_names_its_own_device(admin_client, app, sqlite_store):
    from app.config import resolve_device_id

    own = resolve_device_id(app.extensions["daka_admin"].config)
    sid = add_staff(sqlite_store, "A01", "张三")
    add_punch(sqlite_store, sid, "A01", "张三", dt.datetime.combine(DAY, dt.time(9)), device_id=own)
    html = admin_client.get(f"/attendance/?from={DAY}&to={DAY}").get_data(as_text=True)
    assert _device_options(html, "attendance-filter") == ["", own]
    name = app.extensions["daka_admin"].setting("device.name")
    assert name in _rows(html, "punches")[0]

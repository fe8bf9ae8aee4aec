"""月度考勤汇总, the monthly grid and the daily detail (issue 24) in the admin and their exports,
parsed back with openpyxl as HR's Excel would read them."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from app.attendance import rules
from tests.helpers.admin_app import add_punch, add_staff, post

D = dt.date.fromisoformat


@pytest.fixture
def march(sqlite_store):
    """Two people in 生产部 on 09:00–18:00 (grace 5, overtime after 30), one in 行政部, March 2026."""
    store = sqlite_store
    a = add_staff(store, "00123", "王五", "生产部")
    b = add_staff(store, "00456", "赵六", "生产部")
    c = add_staff(store, "00789", "钱七", "行政部")
    shift = rules.save_shift(store, rules.ShiftSpec("白班", dt.time(9), dt.time(18), late_grace_min=5,
                                                    early_grace_min=5, overtime_after_min=30), "t")
    schedule = rules.save_schedule(store, "标准", "weekly", [shift] * 5 + [None, None], "t")
    rules.assign_schedule(store, schedule, D("2026-01-01"), "t")
    day = D("2026-03-02")
    while day <= D("2026-03-31"):
        if day.weekday() < 5:
            for sid, no, name in ((a, "00123", "王五"), (b, "00456", "赵六"), (c, "00789", "钱七")):
                add_punch(store, sid, no, name, dt.datetime.combine(day, dt.time(8, 55)))
                add_punch(store, sid, no, name, dt.datetime.combine(day, dt.time(18, 5)))
        day += dt.timedelta(days=1)
    # 王五: late 22 min on the 3rd, leaves at 20:00 on the 4th (120 min overtime), sick on the 5th
    from sqlalchemy import delete

    from app.store import Punch

    with store.session() as s:
        s.execute(delete(Punch).where(Punch.staff_id == a, Punch.local_date.in_([D("2026-03-03"), D("2026-03-04"),
                                                                                 D("2026-03-05")])))
    add_punch(store, a, "00123", "王五", dt.datetime(2026, 3, 3, 9, 22))
    add_punch(store, a, "00123", "王五", dt.datetime(2026, 3, 3, 18, 0))
    add_punch(store, a, "00123", "王五", dt.datetime(2026, 3, 4, 8, 59))
    add_punch(store, a, "00123", "王五", dt.datetime(2026, 3, 4, 20, 0))
    rules.add_leave(store, a, D("2026-03-05"), D("2026-03-05"), "sick", "", "t")
    return {"a": a, "b": b, "c": c}


def _sheet(body: bytes):
    wb = openpyxl.load_workbook(io.BytesIO(body))
    return wb, wb.active


def test_the_monthly_report_page(admin_client, march):
    html = admin_client.get("/attendance/monthly?month=2026-03").get_data(as_text=True)
    table = html.split('id="monthly"')[1]
    row = table.split("00123")[2].split("</tr>")[0]  # the link's href holds it once, its text once
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    # due 22 (March 2026 has 22 working days), present 21 (one sick day), late once for 22 min, never
    # early, no missing punch, never absent, 2 h overtime (the 4th)
    assert cells[:11] == ["王五", "生产部", "22", "21", "1", "22", "0", "0", "0", "0", "2.0"]
    assert "病假" in table
    only = admin_client.get("/attendance/monthly?month=2026-03&department=行政部").get_data(as_text=True)
    assert "00789" in only and "00123" not in only.split('id="monthly"')[1]
    assert admin_client.get("/attendance/monthly?month=2026-13").status_code == 400
    assert admin_client.get("/attendance/monthly?month=garbage").status_code == 400


def test_monthly_xlsx_is_printable_and_keeps_staff_numbers(admin_client, march):
    r = admin_client.get("/attendance/monthly.xlsx?month=2026-03")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb, ws = _sheet(r.data)
    assert "月度考勤汇总" in ws["A1"].value and "2026-03" in ws["A1"].value
    assert ws["A1"].font.bold
    assert ws["A2"].value == "2026-03-01 至 2026-03-31"
    header = [c.value for c in ws[3]]
    assert header[:4] == ["工号", "姓名", "部门", "应出勤天数"] and "病假" in header
    assert all(c.font.bold for c in ws[3] if c.value)
    assert ws.freeze_panes == "D4"
    assert ws.column_dimensions["C"].width >= 10
    first = [c.value for c in ws[4]]
    assert first[0] == "00123" and ws["A4"].data_type == "s" and ws["A4"].number_format == "@"
    assert first[1:4] == ["王五", "生产部", 22]
    assert first[header.index("加班小时")] == 2 and first[header.index("病假")] == 1
    assert [ws.cell(r, 1).value for r in range(4, ws.max_row + 1)] == ["00123", "00456", "00789"]
    wb.close()


def test_the_title_names_the_company(admin_client, march, app):
    services = app.extensions["daka_admin"]
    wb, ws = _sheet(admin_client.get("/attendance/grid.xlsx?month=2026-03").data)
    assert ws["A1"].value.startswith(services.setting("device.name") + " ")  # none set: the device's name
    wb.close()
    services.settings.set("reports.company", "某某电子厂", "t")
    services.forget_settings()
    wb, ws = _sheet(admin_client.get("/attendance/grid.xlsx?month=2026-03").data)
    assert ws["A1"].value == "某某电子厂 月度考勤表 2026-03"
    wb.close()


def test_monthly_csv_keeps_a_bom(admin_client, march):
    body = admin_client.get("/attendance/monthly.csv?month=2026-03").data
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("工号,姓名,部门,应出勤天数") and lines[1].startswith("00123,王五,生产部,22,")


def test_the_grid_page_and_its_export(admin_client, march):
    html = admin_client.get("/attendance/grid?month=2026-03").get_data(as_text=True)
    grid = html.split('id="grid"')[1]
    assert grid.count("<th class=\"day") == 31
    row = grid.split("王五")[1].split("</tr>")[0]
    assert 'class="s-late"' in row and 'class="s-leave"' in row and "病" in row and 'class="s-rest"' in row
    wb, ws = _sheet(admin_client.get("/attendance/grid.xlsx?month=2026-03").data)
    header = [c.value for c in ws[3]]
    assert header[:3] == ["工号", "姓名", "部门"] and header[3] == "1 日" and header[4] == "2 一"
    row = [c.value for c in ws[4]]
    assert row[0] == "00123"
    days = row[3:34]
    assert days[0] == "休" and days[1] == "√" and days[2] == "迟" and days[3] == "√+加" and days[4] == "病"
    wb.close()


def test_the_daily_detail_pages_long_ranges_and_exports_real_times(admin_client, march):
    html = admin_client.get("/attendance/days?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert "共 93 条" in html                       # 3 people x 31 days, one page of 100
    assert html.split('id="days"')[1].count('<tr class="s-') == 93 and "下一页" not in html
    # four months: 3 x 122 = 366 rows in pages of 100, person by person
    html = admin_client.get("/attendance/days?from=2026-03-01&to=2026-06-30&page=2").get_data(as_text=True)
    table = html.split('id="days"')[1]
    assert "共 366 条" in html and "2 / 4" in html and table.count('<tr class="s-') == 100
    assert "00123" in table and "00456" in table and "00789" not in table   # rows 101-200: 王五's end, 赵六's start
    last = admin_client.get("/attendance/days?from=2026-03-01&to=2026-06-30&page=4").get_data(as_text=True)
    assert last.split('id="days"')[1].count('<tr class="s-') == 66
    r = admin_client.get("/attendance/days.xlsx?from=2026-03-03&to=2026-03-03&staff=00123")
    wb, ws = _sheet(r.data)
    header = [c.value for c in ws[3]]
    row = {h: c for h, c in zip(header, ws[4])}
    assert row["工号"].value == "00123"
    assert row["上班"].value == dt.time(9, 22) and row["上班"].number_format == "hh:mm"
    assert row["日期"].value == dt.datetime(2026, 3, 3) and row["日期"].is_date
    assert row["状态"].value == "迟到" and row["迟到分钟"].value == 22 and "迟到 22 分钟" in row["说明"].value
    wb.close()
    csv = admin_client.get("/attendance/days.csv?from=2026-03-03&to=2026-03-03&staff=00123").data
    assert csv.startswith(b"\xef\xbb\xbf") and "09:22" in csv.decode("utf-8-sig")


def test_the_daily_detail_export_holds_every_person_day(admin_client, march, sqlite_store):
    for i in range(60):   # more people than one computed group (50)
        add_staff(sqlite_store, f"P{i:03d}", f"人{i}", "生产部")
    lines = admin_client.get("/attendance/days.csv?from=2026-03-02&to=2026-03-03").data.decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 63 * 2
    numbers = [line.split(",")[1] for line in lines[1:]]
    assert numbers == sorted(numbers) and numbers[:2] == ["00123", "00123"] and numbers[-1] == "P059"


def test_reports_speak_english_too(admin_client, march):
    post(admin_client, "/language", {"lang": "en", "next": "/"})
    html = admin_client.get("/attendance/days?from=2026-03-03&to=2026-03-03&staff=00123").get_data(as_text=True)
    assert "min late" in html and "Late" in html
    wb, ws = _sheet(admin_client.get("/attendance/monthly.xlsx?month=2026-03").data)
    from app import i18n

    assert [c.value for c in ws[3]][:3] == [i18n.text(k, "en") for k in ("工号", "姓名", "部门")]
    assert "Monthly attendance summary" in ws["A1"].value and ws["A2"].value == "2026-03-01 to 2026-03-31"
    wb.close()


def test_viewers_read_the_reports(viewer_client, march):
    assert viewer_client.get("/attendance/monthly?month=2026-03").status_code == 200
    assert viewer_client.get("/attendance/grid.xlsx?month=2026-03").status_code == 200


def test_the_daily_summary_follows_the_rules(admin_client, sqlite_store):
    """Issue 24 as HR found it: 09:22 in / 16:03 out was 正常, every Sunday 缺卡 for everyone, and a
    year's range one page of rows, mostly 缺卡 before people were hired."""
    sid = add_staff(sqlite_store, "00321", "孙八", "生产部")
    rules.set_staff_dates(sqlite_store, sid, D("2026-03-02"), None, "t")
    shift = rules.save_shift(sqlite_store, rules.ShiftSpec("白班", dt.time(9), dt.time(18)), "t")
    schedule = rules.save_schedule(sqlite_store, "标准", "weekly", [shift] * 5 + [None, None], "t")
    rules.assign_schedule(sqlite_store, schedule, D("2026-01-01"), "t")
    add_punch(sqlite_store, sid, "00321", "孙八", dt.datetime(2026, 3, 2, 9, 22))
    add_punch(sqlite_store, sid, "00321", "孙八", dt.datetime(2026, 3, 2, 16, 3))
    html = admin_client.get("/attendance/summary?from=2026-03-01&to=2026-03-08").get_data(as_text=True)
    table = html.split('id="summary"')[1]
    assert "2026-03-01" not in table                                 # before the hire date: no row
    monday = table.split("<td>2026-03-02</td>")[1].split("</tr>")[0]
    assert "<td>迟到</td>" in monday and "迟到 22 分钟" in monday and "早退 117 分钟" in monday
    sunday = table.split("<td>2026-03-08</td>")[1].split("</tr>")[0]
    assert "<td>休息</td>" in sunday
    csv = admin_client.get("/attendance/export.csv?view=summary&from=2026-03-02&to=2026-03-08").data.decode("utf-8-sig")
    assert csv.splitlines()[1].endswith(",2,迟到,test") and csv.splitlines()[-1].endswith(",0,休息,")
    for i in range(60):
        add_staff(sqlite_store, f"P{i:03d}", f"人{i}", "生产部")
    year = admin_client.get("/attendance/summary?from=2026-01-01&to=2026-12-31").get_data(as_text=True)
    assert year.split('id="summary"')[1].count("<tr class=") == 50       # one page of 50
    assert f"共 {60 * 365 + 305} 条" in year                              # 孙八 from 2 March only


def test_an_approved_makeup_punch_changes_the_day(admin_client, sqlite_store):
    sid = add_staff(sqlite_store, "00555", "周九", "生产部")
    shift = rules.save_shift(sqlite_store, rules.ShiftSpec("白班", dt.time(9), dt.time(18)), "t")
    schedule = rules.save_schedule(sqlite_store, "标准", "weekly", [shift] * 5 + [None, None], "t")
    rules.assign_schedule(sqlite_store, schedule, D("2026-01-01"), "t")
    add_punch(sqlite_store, sid, "00555", "周九", dt.datetime(2026, 3, 2, 8, 58))
    url = "/attendance/days?from=2026-03-02&to=2026-03-02&staff=00555"
    assert "缺下班卡" in admin_client.get(url).get_data(as_text=True)
    r = post(admin_client, "/makeup/", {"staff_no": "00555", "time": "2026-03-02T18:01", "reason": "忘记打卡"},
             page="/makeup/")
    assert r.status_code == 302
    from app.store import MakeupRequest

    with sqlite_store.session() as s:
        request_id = s.query(MakeupRequest.id).scalar()
    assert post(admin_client, f"/makeup/{request_id}/approve", page="/makeup/").status_code == 302
    row = admin_client.get(url).get_data(as_text=True).split('id="days"')[1]
    assert "<td class=\"status-cell\">正常</td>" in row and "18:01" in row

"""HR's attendance flow in a real headless Chromium (issue 24): a shift, a schedule for a
department and a leave entered through the forms, then the monthly report and the monthly grid at
desk (1366x900) and phone (390x844) sizes, and the Excel export downloaded and read back.

Screenshots go to test-artifacts/admin-browser/ (not committed).
"""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from tests.helpers.admin_app import ADMIN_PW, add_punch, add_staff
from tests.helpers.browser import shot, wait_for

pytestmark = pytest.mark.browser


def _seed(store) -> None:
    """Two people of 生产部 punching the working days of March 2026, one of them late on the 3rd."""
    people = [(add_staff(store, "00123", "王五", "生产部"), "00123", "王五"),
              (add_staff(store, "00456", "赵六", "生产部"), "00456", "赵六")]
    day = dt.date(2026, 3, 2)
    while day <= dt.date(2026, 3, 31):
        if day.weekday() < 5:
            for sid, no, name in people:
                first = dt.time(9, 22) if (no, day.day) == ("00123", 3) else dt.time(8, 55)
                add_punch(store, sid, no, name, dt.datetime.combine(day, first))
                add_punch(store, sid, no, name, dt.datetime.combine(day, dt.time(18, 5)))
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(("size", "width", "height"), [("desk", 1366, 900), ("phone", 390, 844)])
def test_hr_sets_rules_and_reads_the_month(browser, server, sqlite_store, size, width, height):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _seed(sqlite_store)
    d = browser
    d.set_window_size(width, height)
    d.get(server.url + "/login")
    d.find_element(By.ID, "username").send_keys("admin")
    d.find_element(By.ID, "password").send_keys(ADMIN_PW)
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in d.current_url)
    overflow = "return document.documentElement.scrollWidth - window.innerWidth"

    d.get(server.url + "/rules/shifts")
    form = d.find_element(By.ID, "shift-form")
    form.find_element(By.NAME, "name").send_keys("白班")
    for name, value in (("start", "09:00"), ("end", "18:00"), ("late_grace_min", "5"), ("early_grace_min", "5")):
        d.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, name), value)
    d.find_element(By.ID, "save-shift").click()
    wait_for(lambda: "白班" in d.find_element(By.ID, "shifts").text)
    shot(d, f"20-rules-shifts-{size}")
    assert d.execute_script(overflow) <= 0, "the shifts page is wider than the window"

    d.get(server.url + "/rules/schedules")
    form = d.find_element(By.ID, "schedule-form")
    form.find_element(By.NAME, "name").send_keys("标准")
    d.find_element(By.ID, "save-schedule").click()   # Monday to Friday 白班 is the form's default
    wait_for(lambda: "标准" in d.find_element(By.ID, "schedules").text)
    form = d.find_element(By.ID, "assign-form")
    Select(form.find_element(By.NAME, "target")).select_by_value("department")
    form.find_element(By.NAME, "department").send_keys("生产部")
    d.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, "first"), "2026-01-01")
    d.find_element(By.ID, "assign").click()
    wait_for(lambda: "生产部" in d.find_element(By.ID, "assignments").text)
    shot(d, f"21-rules-schedules-{size}")
    assert d.execute_script(overflow) <= 0, "the schedules page is wider than the window"

    d.get(server.url + "/rules/leave")
    form = d.find_element(By.ID, "leave-form")
    form.find_element(By.NAME, "staff_no").send_keys("00456")
    Select(form.find_element(By.NAME, "kind")).select_by_value("annual")
    for name, value in (("first", "2026-03-10"), ("last", "2026-03-11")):
        d.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, name), value)
    d.find_element(By.ID, "save-leave").click()
    wait_for(lambda: "年假" in d.find_element(By.ID, "leaves").text)

    d.get(server.url + "/attendance/monthly?month=2026-03")
    table = d.find_element(By.ID, "monthly")
    rows = {r.find_elements(By.TAG_NAME, "td")[0].text: [c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert rows["00123"][3:7] == ["22", "22", "1", "22"]     # due, present, late once for 22 minutes
    # two days of annual leave (the last column before the devices, issue 20)
    assert rows["00456"][3:5] == ["22", "20"] and rows["00456"][-2] == "2" and rows["00456"][-1] == "test"
    shot(d, f"22-monthly-report-{size}")
    assert d.execute_script(overflow) <= 0, "the monthly report is wider than the window"

    d.get(server.url + "/attendance/grid?month=2026-03&department=生产部")
    grid = d.find_element(By.ID, "grid")
    marks = [c.text for c in grid.find_elements(By.CSS_SELECTOR, "tbody tr")[0].find_elements(By.TAG_NAME, "td")]
    assert marks[0] == "00123" and marks[1:5] == ["休", "√", "迟", "√"]
    shot(d, f"23-monthly-grid-{size}")
    assert d.execute_script(overflow) <= 0, "the grid page is wider than the window (its table scrolls)"

    d.find_element(By.ID, "export-xlsx").click()
    target = d.downloads / "attendance-grid-2026-03.xlsx"
    wait_for(lambda: target.is_file() and not list(d.downloads.glob("*.crdownload")))
    wb = openpyxl.load_workbook(target)
    try:
        ws = wb.active
        assert ws["A4"].value == "00123" and ws.freeze_panes == "D4"
        assert [c.value for c in ws[5]][3 + 9:3 + 11] == ["年", "年"]
    finally:
        wb.close()

"""End to end in a real headless Chromium (Debian's chromium + chromium-driver, via Selenium).

Screenshots of each step are kept in test-artifacts/admin-browser/ (not committed).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.helpers.admin_app import ADMIN_PW, add_punch
from tests.helpers.browser import shot, wait_for

pytestmark = pytest.mark.browser


def test_log_in_enrol_query_export_and_approve_a_makeup(browser, server, photos, tmp_path, sqlite_store):
    from selenium.webdriver.common.by import By

    from app.store import MakeupRequest, Punch, Staff

    d, base = browser, server.url
    d.get(base + "/staff/")
    assert "/login" in d.current_url
    d.find_element(By.ID, "username").send_keys("admin")
    d.find_element(By.ID, "password").send_keys(ADMIN_PW)
    shot(d, "01-login")
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/staff/" in d.current_url)

    # upload two photos whose file names are Chinese
    folder = tmp_path / "上传"
    folder.mkdir()
    files = [folder / "HR0001_奥巴马.jpg", folder / "HR0002_拜登.jpg"]
    files[0].write_bytes(photos["obama.jpg"].read_bytes())
    files[1].write_bytes(photos["biden.jpg"].read_bytes())
    d.find_element(By.ID, "upload-files").send_keys("\n".join(str(f) for f in files))
    d.find_element(By.ID, "upload-submit").click()
    table = d.find_element(By.ID, "upload-results")
    shot(d, "02-upload-results")
    assert len(table.find_elements(By.CSS_SELECTOR, "tr.ok")) == 2
    d.find_element(By.ID, "back-to-staff").click()
    names = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#staff-table td.name")]
    assert names == ["奥巴马", "拜登"]
    thumbs = d.find_elements(By.CSS_SELECTOR, "#staff-table img.thumb")
    assert len(thumbs) == 2 and all(d.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs)
    shot(d, "03-staff-list")

    # punches for the query, and a make-up request approved from the page
    with sqlite_store.session() as s:
        obama = s.scalar(select(Staff).where(Staff.staff_no == "HR0001"))
    add_punch(sqlite_store, obama.id, "HR0001", "奥巴马", dt.datetime(2022, 4, 18, 8, 55))
    add_punch(sqlite_store, obama.id, "HR0001", "奥巴马", dt.datetime(2022, 4, 18, 18, 2))
    d.get(base + "/attendance/")
    for field, value in (("from", "2022-04-18"), ("to", "2022-04-18")):
        d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.ID, field), value)
    d.find_element(By.ID, "query").click()
    wait_for(lambda: "from=2022-04-18" in d.current_url)
    wait_for(lambda: d.find_element(By.ID, "total").text == "2")
    shot(d, "04-attendance")
    d.find_element(By.ID, "export-csv").click()
    csv_file = wait_for(lambda: next((p for p in d.downloads.glob("*.csv")), None))
    wait_for(lambda: csv_file.stat().st_size > 0)
    lines = csv_file.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1:] == ["HR0001,奥巴马,2022-04-18 08:55:00,face,test", "HR0001,奥巴马,2022-04-18 18:02:00,face,test"]

    d.get(base + "/makeup/")
    d.find_element(By.ID, "makeup-staff").send_keys("HR0002")
    d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.ID, "makeup-time"), "2022-04-18T09:03")
    d.find_element(By.ID, "makeup-reason").send_keys("忘记打卡")
    d.find_element(By.ID, "makeup-submit").click()
    shot(d, "05-makeup-pending")
    d.find_element(By.CSS_SELECTOR, "#makeups button.approve").click()
    wait_for(lambda: "无记录" in d.find_element(By.ID, "makeups").text)
    shot(d, "06-makeup-approved")
    with sqlite_store.session() as s:
        req = s.scalar(select(MakeupRequest))
        punch = s.get(Punch, req.punch_id)
    assert req.state == "approved" and punch.source == "makeup" and punch.staff_no == "HR0002"

    # the dashboard's live feed receives a punch made after the page loaded
    d.get(base + "/")
    rows_before = len(d.find_elements(By.CSS_SELECTOR, "#feed tbody tr"))
    add_punch(sqlite_store, obama.id, "HR0001", "奥巴马", dt.datetime.now().replace(microsecond=0))
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, "#feed tbody tr.new")) == 1)
    assert len(d.find_elements(By.CSS_SELECTOR, "#feed tbody tr")) == rows_before + 1
    shot(d, "07-dashboard-live")
    d.find_element(By.ID, "lang-switch").click()
    wait_for(lambda: "Dashboard" in d.page_source)
    shot(d, "08-dashboard-en")


@pytest.mark.parametrize(("size", "width", "height"), [("desk", 1366, 900), ("phone", 390, 844)])
def test_settings_and_attendance_pages_fit_desk_and_phone(browser, server, size, width, height):
    """The pages issue 17 regenerated (settings from the registry) or extended (the attendance filter's
    source and device): every field shows, and nothing is wider than the window."""
    from selenium.webdriver.common.by import By

    d = browser
    d.set_window_size(width, height)
    d.get(server.url + "/login")
    d.find_element(By.ID, "username").send_keys("admin")
    d.find_element(By.ID, "password").send_keys(ADMIN_PW)
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in d.current_url)
    overflow = "return document.documentElement.scrollWidth - window.innerWidth"

    d.get(server.url + "/settings/")
    form = d.find_element(By.ID, "settings-form")
    names = {e.get_attribute("name") for e in form.find_elements(By.CSS_SELECTOR, "input[name], select[name]")}
    assert {"device.name", "device.timezone", "attendance.confirm_seconds", "ui.sound", "push.secret"} <= names
    shot(d, f"10-settings-{size}")
    assert d.execute_script(overflow) <= 0, "the settings page is wider than the window"

    d.get(server.url + "/attendance/")
    assert d.find_element(By.ID, "source").is_displayed() and d.find_element(By.ID, "device").is_displayed()
    shot(d, f"11-attendance-{size}")
    assert d.execute_script(overflow) <= 0, "the attendance page is wider than the window"

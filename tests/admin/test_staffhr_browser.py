"""Issue 24 end to end in a real headless Chromium (Debian's chromium + chromium-driver, via
Selenium), over a real waitress server: the staff member's phone page at 390x844 (their month,
a missed-punch and a leave request), HR at 1366x900 (an Excel import with a bad row, then a good
one; the requests approved in bulk), and the outcome back on the phone.

Screenshots of each step are kept in test-artifacts/staff-hr-browser/ (not committed).
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from app.store import Leave, MakeupRequest, Punch, Staff
from tests.helpers.admin_app import build_app
from tests.helpers.attendance_rules import TZ, person, punch, shift, weekly
from tests.helpers.browser import absent_or_found, admin_server, chromium, fits, shot, wait_for

pytestmark = pytest.mark.browser
HR_PW = "human resources 3"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=TZ).timestamp()  # a Friday noon: the page's "today"


@pytest.fixture
def browser(tmp_path):
    """The staff member's phone first (390x844); the test resizes the window for HR's desk."""
    with chromium(window=(390, 844), artifacts="staff-hr-browser") as driver:
        yield driver


@pytest.fixture
def server(admin_config, instance, sqlite_store):
    from admin.auth.users import create_user

    create_user(sqlite_store, "hrm", HR_PW, "hr", actor="test")
    app = build_app(admin_config(), instance, sqlite_store)
    app.config["SELF_SERVICE_CLOCK"] = lambda: NOW
    with admin_server(app) as srv:
        yield srv


def self_link(instance, staff_id: int, staff_no: str) -> str:
    from app.services.selflink import SelfLinks, instance_key

    return SelfLinks(instance_key(instance.root), "", clock=lambda: NOW).url(staff_id, staff_no)


def workbook(rows) -> bytes:
    book = Workbook()
    book.active.append(["工号", "姓名", "部门", "入职日期", "手机", "卡号"])
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_phone_page_requests_import_and_bulk_approval(browser, server, sqlite_store, instance, tmp_path):
    from selenium.webdriver.common.by import By

    d, base = browser, server.url
    sid = person(sqlite_store, "E1", "张三")
    weekly(sqlite_store, shift(sqlite_store), department="生产部")
    punch(sqlite_store, sid, "E1", "2026-11-16 08:55")
    punch(sqlite_store, sid, "E1", "2026-11-16 18:05")
    punch(sqlite_store, sid, "E1", "2026-11-17 08:58")

    # -- the phone: the link from the terminal's QR code ------------------------------------
    d.set_window_size(390, 844)
    d.get(base + self_link(instance, sid, "E1"))
    wait_for(lambda: d.current_url.endswith("/me/"))
    assert "张三" in d.find_element(By.ID, "me-name").text
    days = d.find_element(By.ID, "me-days")
    assert "缺卡" in days.text and "正常" in days.text and "旷工" in days.text
    assert fits(d)
    shot(d, "phone-01-month")
    d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.ID, "me-time"), "2026-11-17T18:02")
    d.find_element(By.ID, "me-reason").send_keys("忘记打卡")
    d.find_element(By.ID, "me-punch-submit").click()
    wait_for(lambda: "待审批" in d.find_element(By.ID, "me-requests").text)
    d.find_element(By.CSS_SELECTOR, "#me-leave-type option[value='sick']").click()
    for field, value in (("me-first", "2026-11-18"), ("me-last", "2026-11-18")):
        d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.ID, field), value)
    d.find_element(By.ID, "me-leave-reason").send_keys("发烧")
    d.find_element(By.ID, "me-leave-submit").click()
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, "#me-requests li.state-pending")) == 2)
    assert fits(d)
    d.execute_script("arguments[0].scrollIntoView()", d.find_element(By.ID, "me-leave-form"))
    shot(d, "phone-02-requested")

    # -- HR at a desk: sign in, import staff from Excel ---------------------------------------
    d.set_window_size(1366, 900)
    d.get(base + "/login")
    d.find_element(By.ID, "username").send_keys("hrm")
    d.find_element(By.ID, "password").send_keys(HR_PW)
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: d.current_url.rstrip("/") == base)
    assert d.find_element(By.ID, "pending-requests").text.startswith("2")
    bad = tmp_path / "员工-有错.xlsx"
    bad.write_bytes(workbook([["E10", "王五", "品质部", "2025-03-01", "13800000010", "C10"],
                              ["E11", "", "品质部", "2025-13-01", "", ""]]))
    d.get(base + "/staff/import")
    d.find_element(By.ID, "import-file").send_keys(str(bad))
    d.find_element(By.ID, "import-check").click()
    wait_for(lambda: "1 行有错误" in d.find_element(By.ID, "import-summary").text)
    assert not absent_or_found(d, By.ID, "import-confirm")
    shot(d, "desk-01-import-errors")
    good = tmp_path / "员工.xlsx"
    good.write_bytes(workbook([["E10", "王五", "品质部", "2025-03-01", "13800000010", "C10"],
                               ["E11", "赵六", "品质部", "2025-04-01", "", ""]]))
    d.find_element(By.ID, "import-file").send_keys(str(good))
    d.find_element(By.ID, "import-check").click()
    wait_for(lambda: "0 行有错误" in d.find_element(By.ID, "import-summary").text)
    shot(d, "desk-02-import-preview")
    d.find_element(By.ID, "import-confirm").click()
    wait_for(lambda: "王五" in d.find_element(By.ID, "staff-table").text)
    with sqlite_store.session() as s:
        hired = s.scalar(select(Staff).where(Staff.staff_no == "E10"))
        assert (hired.department, hired.card_no, hired.hire_date) == ("品质部", "C10", dt.date(2025, 3, 1))

    # -- HR approves both requests at once ----------------------------------------------------
    d.get(base + "/makeup/")
    for box in d.find_elements(By.CSS_SELECTOR, "#makeups input[name='ids']"):
        box.click()
    shot(d, "desk-03-requests-ticked")
    d.find_element(By.ID, "bulk-approve").click()
    wait_for(lambda: "无记录" in d.find_element(By.ID, "makeups").text)
    shot(d, "desk-04-approved")
    with sqlite_store.session() as s:
        assert set(s.scalars(select(MakeupRequest.state))) == {"approved"}
        assert s.scalar(select(Punch.local_date).where(Punch.source == "makeup")) == dt.date(2026, 11, 17)
        assert s.scalar(select(Leave.kind)) == "sick"

    # -- the phone again, with a new code: the outcome and the corrected days ------------------
    d.set_window_size(390, 844)
    d.get(base + self_link(instance, sid, "E1"))
    wait_for(lambda: d.current_url.endswith("/me/"))
    rows = {r.find_element(By.TAG_NAME, "td").text: r.get_attribute("class")
            for r in d.find_elements(By.CSS_SELECTOR, "#me-days tbody tr")}
    assert rows["11-17"] == "status-normal" and rows["11-18"] == "status-leave"
    assert len(d.find_elements(By.CSS_SELECTOR, "#me-requests li.state-approved")) == 2
    assert fits(d)
    shot(d, "phone-03-outcome")
    d.execute_script("arguments[0].scrollIntoView()", d.find_element(By.ID, "me-leave-form"))
    shot(d, "phone-04-outcome-requests")

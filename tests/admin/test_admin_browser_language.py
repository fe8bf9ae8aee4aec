"""Issue 25 in a real headless Chromium, at a desk (1366x900) and on a phone (390x844): every page
shows labels rather than codes, times in the terminal's zone, no short value wrapped one character a
line, nothing wider than the window; on the phone every control is a tap target of 44 px or more.
Screenshots go to test-artifacts/admin-browser/ (not committed)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from tests.helpers.admin_app import ADMIN_PW, VIEWER_PW, add_punch, add_staff
from tests.helpers.browser import absent_or_found, shot, wait_for

pytestmark = pytest.mark.browser
SIZES = [("desk", 1366, 900), ("phone", 390, 844)]
MIN_TAP_PX = 44


# Short cells (a two-character name, 正常/失败, a time) laid out on more than one line.
WRAPPED_SHORT_CELLS = """
const out = [];
for (const cell of document.querySelectorAll("main td, main th")) {
  const text = cell.innerText.trim();
  if (!text || text.length > 10 || cell.offsetParent === null || cell.querySelector("form, input, select")) continue;
  const tops = new Set(), walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {  // the text's lines, not the boxes
    const range = document.createRange();
    range.selectNodeContents(node);
    Array.from(range.getClientRects()).filter(r => r.width > 0).forEach(r => tops.add(Math.round(r.top)));
  }
  if (tops.size > 1) out.push(text);
}
return out;
"""
# Controls a finger taps, smaller than the minimum (visible ones only).
SMALL_TARGETS = """
const min = arguments[0], out = [];
const sel = "main a, main button, main select, main input:not([type=hidden]):not([type=checkbox]), main summary, " +
            "main label.check, header .link, header .menu-button, header .menu a";
for (const el of document.querySelectorAll(sel)) {
  const r = el.getBoundingClientRect();
  if (el.offsetParent === null || r.width === 0) continue;
  if (r.height < min - 0.5) out.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name || "").trim().slice(0, 20)}" ${Math.round(r.height)}px`);
}
return out;
"""
# The visible text of the page's body, without the log file's own lines (those are the log's words).
VISIBLE_TEXT = """
const main = document.querySelector("main").cloneNode(true);
main.querySelectorAll("pre.log").forEach(e => e.remove());
return main.innerText;
"""
RAW = re.compile(r"\b(face|makeup|manual|viewer|makeup_approve|edit_staff|create_token|UTC)\b|\+00:00|终端进程未提供|\{'")


def _sign_in(d, url: str, username: str = "admin", password: str = ADMIN_PW) -> None:
    from selenium.webdriver.common.by import By

    d.get(url + "/login")
    d.find_element(By.ID, "username").send_keys(username)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in d.current_url)


def _seed(store) -> int:
    from admin.auth.users import create_user
    from app.store import MakeupRequest

    create_user(store, "hr", VIEWER_PW, "viewer", actor="admin")
    sid = add_staff(store, "E001", "张三", "仓库")
    other = add_staff(store, "E002", "李四", "财务部")
    add_punch(store, sid, "E001", "张三", dt.datetime(2022, 4, 18, 8, 55))
    add_punch(store, sid, "E001", "张三", dt.datetime(2022, 4, 18, 18, 2), source="makeup")
    add_punch(store, other, "E002", "李四", dt.datetime(2022, 4, 18, 9, 1))
    with store.session() as s:
        s.add(MakeupRequest(staff_id=sid, staff_no="E001", name="张三", punched_at=dt.datetime(2022, 4, 18, 10, 2),
                            local_date=dt.date(2022, 4, 18), reason="忘带工牌，在前台登记", requested_by="admin"))
        store.audit(s, "admin", "edit_staff", staff_no="E001", old={"name": "张", "department": ""},
                    new={"name": "张三", "department": "仓库"})
    return sid


@pytest.mark.parametrize(("size", "width", "height"), SIZES)
def test_every_page_reads_well_at_desk_and_phone(browser, server, sqlite_store, photos, tmp_path, size, width,
                                                 height):
    import cv2
    from selenium.webdriver.common.by import By

    d = browser
    d.set_window_size(width, height)
    sid = _seed(sqlite_store)
    _sign_in(d, server.url)

    # an upload with a blurred photo, an unreadable file and a good one: failures first, in words
    folder = tmp_path / "照片"
    folder.mkdir()
    good, blurry, broken = folder / "E002_李四.jpg", folder / "E001_张三.jpg", folder / "E003_王五.jpg"
    good.write_bytes(photos["biden.jpg"].read_bytes())
    cv2.imwrite(str(blurry), cv2.GaussianBlur(cv2.imread(str(photos["obama.jpg"])), (0, 0), 8))
    broken.write_bytes(b"not an image")
    d.get(server.url + "/staff/")
    d.find_element(By.ID, "upload-files").send_keys("\n".join(str(f) for f in (good, blurry, broken)))
    d.find_element(By.ID, "upload-submit").click()
    rows = d.find_element(By.ID, "upload-results").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.get_attribute("class") for r in rows] == ["refused", "refused", "ok"]
    assert "照片模糊，请换一张清晰的正面照" in rows[0].text and "sharpness" not in d.page_source

    pages = {"upload-result": None, "dashboard": "/", "staff": "/staff/", "staff-edit": f"/staff/{sid}",
             "attendance": "/attendance/?from=2022-04-18", "summary": "/attendance/summary?from=2022-04-18",
             "makeup": "/makeup/?state=all", "settings": "/settings/", "system": "/system/",
             "audit": "/system/audit", "docs": "/docs", "range-error": "/attendance/?from=2022-04-19&to=2022-04-18"}
    problems = []
    for name, path in pages.items():
        if path is not None:
            d.get(server.url + path)
        wait_for(lambda: d.execute_script("return document.readyState") == "complete")
        shot(d, f"25-{name}-{size}")
        if d.execute_script("return document.documentElement.scrollWidth - window.innerWidth") > 0:
            problems.append(f"{name}: wider than the window")
        wrapped = d.execute_script(WRAPPED_SHORT_CELLS)
        if wrapped:
            problems.append(f"{name}: short values wrapped {wrapped}")
        if name != "docs":  # the API document is the seed's English contract
            raw = RAW.findall(d.execute_script(VISIBLE_TEXT))
            if raw:
                problems.append(f"{name}: raw values {raw}")
        if size == "phone":
            small = d.execute_script(SMALL_TARGETS, MIN_TAP_PX)
            if small:
                problems.append(f"{name}: small tap targets {small}")
    assert problems == [], "\n".join(problems)

    d.get(server.url + "/attendance/?from=2022-04-18")
    text = d.find_element(By.ID, "punches").text
    assert "人脸识别" in text and "补卡" in text
    d.get(server.url + "/docs")
    box = d.find_element(By.ID, "docs-token").rect
    assert box["x"] >= 0 and box["x"] + box["width"] <= d.execute_script("return window.innerWidth")
    d.get(server.url + "/attendance/?from=2022-04-19&to=2022-04-18")
    assert d.find_element(By.ID, "filter-error").text == "结束日期早于开始日期，请把开始日期改到结束日期之前。"

    if size == "phone":  # the menu, opened: each row a full tap target
        d.get(server.url + "/")
        d.find_element(By.CSS_SELECTOR, "label.menu-button").click()
        wait_for(lambda: d.find_element(By.CSS_SELECTOR, ".menu a").is_displayed())
        shot(d, "25-menu-phone")
        heights = [a.rect["height"] for a in d.find_elements(By.CSS_SELECTOR, ".menu a")]
        assert len(heights) >= 7 and min(heights) >= MIN_TAP_PX - 0.5, heights


@pytest.mark.parametrize(("size", "width", "height"), SIZES)
def test_errors_show_in_an_error_style_and_destructive_actions_ask(browser, server, sqlite_store, tmp_path, size,
                                                                    width, height):
    from selenium.webdriver.common.by import By

    from app.store import AuditEntry, Staff

    d = browser
    d.set_window_size(width, height)
    sid = _seed(sqlite_store)

    # a viewer trying a change meets the admin's own 403 page, in Chinese
    _sign_in(d, server.url, "hr", VIEWER_PW)
    d.get(server.url + f"/staff/{sid}")
    d.execute_script("""const f = document.createElement('form'); f.method = 'post'; f.action = '/staff/new';
                        const t = document.createElement('input'); t.name = 'csrf_token';
                        t.value = document.querySelector('input[name=csrf_token]').value; f.appendChild(t);
                        document.body.appendChild(f); f.submit();""")
    wait_for(lambda: d.find_element(By.ID, "error-page"))
    shot(d, f"26-error-403-{size}")
    assert d.find_element(By.TAG_NAME, "h1").text == "没有权限" and "permission" not in d.page_source
    d.find_element(By.CSS_SELECTOR, "header form.inline:last-of-type button").click()  # sign out
    wait_for(lambda: "/login" in d.current_url)

    _sign_in(d, server.url)
    # deleting a photo and restoring a backup ask first; dismissed, nothing happens
    d.get(server.url + "/system/")
    restore = d.find_element(By.ID, "restore-form")
    file_input = restore.find_element(By.CSS_SELECTOR, "input[type=file]")
    bad = tmp_path / "not-a-backup.sqlite3"
    bad.write_bytes(b"not a database")
    file_input.send_keys(str(bad))
    restore.find_element(By.TAG_NAME, "button").click()
    alert = wait_for(lambda: d.switch_to.alert)
    assert "确定恢复" in alert.text
    alert.dismiss()
    with sqlite_store.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action.like("restore%"))) is None
    d.find_element(By.ID, "restore-form").find_element(By.TAG_NAME, "button").click()
    wait_for(lambda: d.switch_to.alert).accept()
    box = wait_for(lambda: d.find_element(By.CSS_SELECTOR, "p.flash-error"))
    shot(d, f"26-restore-refused-{size}")
    assert box.text.startswith("不是有效的备份文件，当前数据未改动") and not absent_or_found(d, By.CSS_SELECTOR, "p.flash")
    assert box.value_of_css_property("border-left-color") != d.execute_script(
        "return getComputedStyle(document.createElement('p')).color")  # a coloured error box
    with sqlite_store.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "restore_failed")) is not None
        assert s.scalar(select(Staff.id).where(Staff.staff_no == "E001")) == sid

    # staff edit: 停用 is not styled as 保存
    d.get(server.url + f"/staff/{sid}")
    save = d.find_element(By.CSS_SELECTOR, "form.grid button")
    disable = d.find_element(By.ID, "staff-active")
    shot(d, f"26-staff-edit-{size}")
    assert save.value_of_css_property("background-color") != disable.value_of_css_property("background-color")


def test_after_setup_the_login_page_greets_with_the_name_filled_in(browser, admin_config, instance, sqlite_store):
    from selenium.webdriver.common.by import By

    from admin.server import AdminServer
    from tests.helpers.admin_app import build_app

    app = build_app(admin_config(), instance, sqlite_store)
    srv = AdminServer(app, "127.0.0.1", 0, threads=4).start()
    try:
        d = browser
        d.set_window_size(390, 844)
        d.get(srv.url + "/setup")
        d.find_element(By.ID, "setup-en").click()
        wait_for(lambda: "lang=en" in d.current_url)
        shot(d, "27-setup-en-phone")
        assert "Setup code" in d.find_element(By.TAG_NAME, "form").text
        d.find_element(By.ID, "setup-zh").click()
        wait_for(lambda: "设置码" in d.find_element(By.TAG_NAME, "form").text)
        code = (instance.root / "setup_code.txt").read_text().strip().split()[-1]
        d.find_element(By.ID, "setup-code").send_keys(code)
        name = d.find_element(By.ID, "setup-username")
        name.clear()
        name.send_keys("hr-admin")
        for field in d.find_elements(By.CSS_SELECTOR, "input[type=password]"):
            field.send_keys(ADMIN_PW)
        d.find_element(By.ID, "setup-submit").click()
        wait_for(lambda: "/login" in d.current_url)
        shot(d, "27-login-after-setup-phone")
        assert d.find_element(By.CSS_SELECTOR, "p.flash").text == "管理员账户 hr-admin 已创建，请用刚才设置的密码登录。"
        assert d.find_element(By.ID, "username").get_attribute("value") == "hr-admin"
        d.find_element(By.ID, "password").send_keys(ADMIN_PW)
        d.find_element(By.ID, "login-submit").click()
        wait_for(lambda: "/login" not in d.current_url)
    finally:
        srv.stop()

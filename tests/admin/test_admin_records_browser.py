"""The records pages in a real headless Chromium at a desk (1366x900) and on a phone (390x844):
pictures load, reasons read as words, nothing is wider than the window. Screenshots in
test-artifacts/admin-browser/ (not committed)."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest

from tests.helpers.admin_app import ADMIN_PW, add_punch, add_staff
from tests.helpers.browser import shot, wait_for

pytestmark = pytest.mark.browser


def _picture(path, grey: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((160, 160, 3), grey, np.uint8)
    cv2.circle(image, (80, 80), 50, (40, 60, 200), -1)
    assert cv2.imwrite(str(path), image)


@pytest.mark.parametrize(("size", "width", "height"), [("desk", 1366, 900), ("phone", 390, 844)])
def test_records_and_a_punch_detail_fit_desk_and_phone(browser, server, sqlite_store, instance,
                                                       size, width, height):
    from selenium.webdriver.common.by import By

    from app.store import FaceEvent, Punch

    day = dt.datetime.now().date()
    sid = add_staff(sqlite_store, "HR0878", "张三")
    pid = add_punch(sqlite_store, sid, "HR0878", "张三", dt.datetime.combine(day, dt.time(8, 59)))
    _picture(instance.snapshots_dir / day.isoformat() / "punch.jpg", 200)
    with sqlite_store.session() as s:
        s.get(Punch, pid).snapshot_file = f"{day.isoformat()}/punch.jpg"
        for i, (kind, reason) in enumerate((("stranger", "below_threshold"), ("spoof", "texture"),
                                            ("spoof", "challenge_timeout"))):
            name = f"{day.isoformat()}/{kind}-{i}.jpg"
            _picture(instance.snapshots_dir / name, 60 + 40 * i)
            s.add(FaceEvent(at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=i), local_date=day,
                            kind=kind, device_id="gate-1", track_id=i, reason=reason, similarity=0.43,
                            candidate_staff_id=sid if kind == "spoof" else None, snapshot_file=name))
    d = browser
    d.set_window_size(width, height)
    d.get(server.url + "/login")
    d.find_element(By.ID, "username").send_keys("admin")
    d.find_element(By.ID, "password").send_keys(ADMIN_PW)
    d.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in d.current_url)
    overflow = "return document.documentElement.scrollWidth - window.innerWidth"
    loaded = "return Array.from(document.querySelectorAll('img')).every(i => i.complete && i.naturalWidth > 0)"

    d.get(server.url + "/records/")
    assert len(d.find_elements(By.CSS_SELECTOR, "#records tbody tr")) == 3
    wait_for(lambda: d.execute_script(loaded))
    text = d.find_element(By.TAG_NAME, "body").text
    assert "陌生人" in text and "活体拒绝" in text and "与人脸库中的人都不够相似" in text
    assert not any(raw in text for raw in ("below_threshold", "challenge_timeout", "stranger", "spoof"))
    shot(d, f"20-records-{size}")
    assert d.execute_script(overflow) <= 0, "the records page is wider than the window"

    d.get(server.url + f"/attendance/?from={day.isoformat()}")
    shot(d, f"22-attendance-detail-link-{size}")
    assert d.execute_script(overflow) <= 0, "the attendance list with its detail links is wider than the window"
    d.find_element(By.LINK_TEXT, "详情").click()
    wait_for(lambda: "/records/punch/" in d.current_url)
    wait_for(lambda: d.execute_script(loaded))
    assert d.find_elements(By.CSS_SELECTOR, "#punch-photo img")
    shot(d, f"21-punch-detail-{size}")
    assert d.execute_script(overflow) <= 0, "the punch detail is wider than the window"

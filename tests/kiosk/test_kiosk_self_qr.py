"""Issue 24: after a successful punch the result screen shows a QR code that a phone can read,
carrying a signed link to the person's own page on this terminal's admin."""

from __future__ import annotations

import cv2
import numpy as np

from app.store import Staff
from tests.helpers.kiosk_window import assert_not_blank, configure

configure()

from app.kiosk.flow import FlowTimes  # noqa: E402  (after configure: Kivy reads its settings at import)

# the result stays up long enough for a screenshot on a busy machine (the QR code is read from it)
SLOW_RESULT = FlowTimes(confirm_s=30.0, result_s=120.0, unknown_s=2.0, idle_s=120.0)


def test_the_success_screen_shows_a_readable_qr_code_of_the_persons_link(terminal_for, photos, kiosk_for, scene,
                                                                        instance):
    from app.services.selflink import PATH, SelfLinks, instance_key

    terminal = terminal_for(scene(photos["obama2.jpg"]))
    kiosk = kiosk_for(terminal, times=SLOW_RESULT)
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    kiosk.tap(kiosk.widget("confirm", "confirm"))
    kiosk.pump_until(lambda: kiosk.screen == "result", timeout=5, what="the result")
    result = kiosk.app.screens["result"]
    assert result.kind == "success" and result.qr_texture is not None
    assert result.qr_text == "扫码查看本月考勤"
    shot = kiosk.screenshot("result_success_qr")
    assert kiosk.screen == "result"  # the picture is of the result screen
    assert_not_blank(shot, "result with QR code")
    qr = kiosk.widget("result", "qr")
    assert qr.width >= 150 and qr.right <= kiosk.window.width  # on the 480x320 screen, whole
    # what a phone camera sees: the code read back from the window's own pixels
    left, bottom = qr.to_window(qr.x, qr.y)
    x0 = max(0, int(left) - 8)
    text = ""
    # the rows of export_as_image run one way or the other by GL driver: read the window both ways
    for rows, top in ((shot, shot.shape[0] - bottom - qr.height), (shot[::-1], shot.shape[0] - bottom - qr.height)):
        y0 = max(0, int(top) - 8)
        region = np.ascontiguousarray(rows[y0:y0 + int(qr.height) + 16, x0:x0 + int(qr.width) + 16, ::-1])
        big = cv2.resize(region, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
        text = text or cv2.QRCodeDetector().detectAndDecode(big)[0]
    assert text == result.qr_url, "the QR code on the screen does not read back as the link"
    assert text.startswith("http://") and PATH in text
    holder = SelfLinks(instance_key(instance.root), "http://x").read(text.split(PATH, 1)[1])
    with terminal.store.session() as s:
        assert s.get(Staff, holder.staff_id).staff_no == holder.staff_no == "E001"


def test_no_qr_code_when_nobody_was_recognised(terminal_for, photos, kiosk_for, scene):
    terminal = terminal_for(scene(photos["biden.jpg"]))
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "result", timeout=30, what="the not-recognised result")
    result = kiosk.app.screens["result"]
    assert result.kind == "unknown" and result.qr_texture is None and result.qr_url == ""
    assert kiosk.widget("result", "qr_box").width == 0

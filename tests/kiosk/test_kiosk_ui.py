"""The kiosk window, for real: SDL offscreen, a real terminal, a camera scene showing a photo of
an enrolled person, taps with UnitTestTouch, punches read back from the database, screenshots
saved to build/test-artefacts/kiosk/ and checked."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from app.services.settings import threshold_key as threshold_key_of

from tests.helpers.kiosk_window import FAST, MOCK_PINS, assert_not_blank, configure

configure()

from app.kiosk.flow import FlowTimes  # noqa: E402  (after configure: Kivy reads its settings at import)


def punches(terminal):
    from app.store import Punch

    terminal.attendance.flusher.flush()
    with terminal.store.session() as s:
        return s.execute(select(Punch.staff_no, Punch.name, Punch.source)).all()


def test_walk_up_confirm_and_see_it_counted(terminal_for, photos, kiosk_for, scene):
    terminal = terminal_for(scene(photos["obama2.jpg"]))
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    card = kiosk.app.screens["confirm"]
    assert card.name_text == "奥巴马" and card.staff_no_text == "E001"
    button = kiosk.widget("confirm", "confirm")
    assert button.height >= 60 and kiosk.widget("confirm", "not_me").height >= 48
    confirm_shot = kiosk.screenshot("confirm")
    assert_not_blank(confirm_shot, "confirm card")
    name = kiosk.widget("confirm", "name")
    x0, y0 = int(name.x), int(kiosk.window.height - name.top)
    region = confirm_shot[y0:y0 + int(name.height), x0:x0 + int(name.width)]
    assert (region.max(axis=2) > 200).sum() > 200, "the name is not drawn on the confirm card"

    relay = terminal.pin_factory.pin(MOCK_PINS["relay_pin"])
    relay_before = len(relay.states)
    kiosk.tap(button)
    waited = kiosk.pump_until(lambda: kiosk.screen == "result", timeout=5, what="the result")
    result = kiosk.app.screens["result"]
    assert result.kind == "success", result.title_text
    assert "打卡成功" in result.title_text and "今日打卡" in result.today_text
    assert_not_blank(kiosk.screenshot("result_success"), "result")
    assert any(s.state for s in relay.states[relay_before:]), "the door relay did not pulse"
    assert punches(terminal) == [("E001", "奥巴马", "face")]
    print(f"tap -> success screen {1000 * waited:.0f} ms (pumped frames included)")
    # the result times out back to the live view; the same face gets no second card
    kiosk.pump_until(lambda: kiosk.screen == "live", timeout=FAST.result_s + 3, what="back to live")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        kiosk.pump()
        assert kiosk.screen == "live"
    check_live_view(kiosk, terminal)


def check_live_view(kiosk, terminal):
    """The live view names the face on the frame: the name region differs from the bare frame."""
    from app.kiosk.overlay import Fit

    kiosk.pump_until(lambda: kiosk.app.latest_update is not None and any(
        t.recognition is not None and t.recognition.known for t in kiosk.app.latest_update.result.tracks),
        what="a named face")
    update = kiosk.app.latest_update
    frame = terminal.camera.slot.latest().frame
    renderer = kiosk.app.renderer
    plain = renderer.render(frame, None).copy()
    named = renderer.render(frame, update).copy()
    fit = Fit.of(frame.shape[1], frame.shape[0], renderer.w, renderer.h)
    l, t, r, b = fit.box(update.result.tracks[0].box)
    cols = slice(max(0, l), min(renderer.w, r))
    regions = [(slice(max(0, t - 40), max(1, t)), cols), (slice(min(renderer.h - 1, b), min(renderer.h, b + 40)), cols)]
    differs = max(np.abs(named[s].astype(int) - plain[s]).mean() for s in regions if named[s].size)
    assert differs > 20, "no name drawn next to the face box"
    shot = kiosk.screenshot("live")
    assert_not_blank(shot, "live view")
    bar = next(w for w in kiosk.app.screens["live"].walk() if type(w).__name__ == "StatusBar")
    assert min(label.font_size for label in bar.children) >= 18, "the status bar is not readable at arm's length"
    assert np.abs(shot.astype(int) - plain[:, :, ::-1]).mean() > 2, "the live view does not show the frame"


def test_not_me_dismisses_and_does_not_punch(terminal_for, photos, kiosk_for, scene):
    terminal = terminal_for(scene(photos["obama2.jpg"]))
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    first = kiosk.app.flow.pending
    button = kiosk.widget("confirm", "not_me")
    kiosk.tap(button)
    kiosk.pump(2)
    assert kiosk.screen == "live", (first, kiosk.app.flow.pending, kiosk.app.flow._not_me,
                                    button.to_window(*button.center), kiosk.window.size, button.size,
                                    kiosk.window.children, kiosk.app.root)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.0:   # the same face is not asked again
        kiosk.pump()
        assert kiosk.screen == "live"
    assert punches(terminal) == []


def test_english_is_one_tap_away(terminal_for, photos, kiosk_for, scene):
    terminal = terminal_for(scene(photos["obama2.jpg"]))
    kiosk = kiosk_for(terminal, FlowTimes(confirm_s=30))
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    kiosk.tap(kiosk.widget("confirm", "not_me"))
    kiosk.pump_until(lambda: kiosk.screen == "live", timeout=3, what="the live view")
    live = kiosk.app.screens["live"]
    language = next(w for w in live.walk() if getattr(w, "text", None) == "English")
    assert language.height >= 48
    kiosk.tap(language)
    kiosk.pump(2)
    assert kiosk.app.lang == "en" and language.text == "中文"
    assert kiosk.widget("confirm", "confirm").text == "Clock in"
    assert kiosk.widget("confirm", "not_me").text == "Not me"
    assert_not_blank(kiosk.screenshot("live_en"), "live view in English")


def test_unknown_face_is_told_not_recognised(terminal_for, photos, kiosk_for, scene):
    terminal = terminal_for(scene(photos["biden.jpg"]))
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "result", what="not recognised")
    assert kiosk.app.screens["result"].kind == "unknown"
    assert kiosk.app.screens["result"].title_text == "未识别"
    assert_not_blank(kiosk.screenshot("result_unknown"), "not recognised")
    assert punches(terminal) == []
    buzzer = terminal.pin_factory.pin(MOCK_PINS["buzzer_pin"])
    assert any(s.state for s in buzzer.states), "no error beep for 未识别"
    # the anti-spoofing check (issue 9) reports through the same result screen
    kiosk.app.flow.liveness_failed(time.monotonic())
    kiosk.pump(2)
    assert kiosk.app.screens["result"].title_text == "活体检测未通过"
    assert_not_blank(kiosk.screenshot("result_liveness"), "liveness failed")


def test_a_flat_picture_is_refused_and_audited(terminal_for, photos, kiosk_for, scene):
    """The liveness gate in the kiosk: the enrolled person's photo moved about in front of the
    camera (test://) shows no depth; it is asked to turn, then refused; nothing is punched and
    the attempt is audited with a snapshot."""
    from app.store import AuditEntry

    terminal = terminal_for(scene(photos["obama2.jpg"], fps=30, drift=1.0), liveness={"level": "normal"})
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.app.hint_text == "请缓慢转头", what="请缓慢转头")   # shown once steady
    assert kiosk.screen != "confirm"
    kiosk.pump_until(lambda: kiosk.screen == "result", timeout=12, what="活体检测未通过")
    assert kiosk.app.screens["result"].kind == "liveness"
    assert kiosk.app.screens["result"].title_text == "活体检测未通过"
    # the next step, not just the verdict (issue 23)
    assert kiosk.app.screens["result"].detail_text == "请正对摄像头缓慢转头\n仍未通过请联系管理员"
    assert_not_blank(kiosk.screenshot("result_liveness"), "活体检测未通过")
    assert punches(terminal) == []
    with terminal.store.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "liveness_failed")).scalars().all()
    assert len(entries) == 1
    detail = json.loads(entries[0].detail)
    assert detail["reason"] == "challenge_timeout" and detail["liveness"]["parallax"]["verdict"] == "unseen"
    assert (terminal.instance.snapshots_dir / detail["snapshot"]).is_file()


def test_idle_clock_and_wake_on_approach(terminal_for, kiosk_for):
    terminal = terminal_for("test://?width=640&height=480&fps=15", sensor_port="sim://",
                            sensor={"enabled": True})
    simulator = terminal.sensor.simulator
    simulator.fixed_mm = 2500          # nobody near
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "idle", timeout=FAST.idle_s + 5, what="the idle clock")
    assert_not_blank(kiosk.screenshot("idle"), "idle clock")
    simulator.fixed_mm = 450           # someone walks up
    waited = kiosk.pump_until(lambda: kiosk.screen == "live", timeout=5, what="waking up")
    assert waited < 2.0
    simulator.fixed_mm = 2500
    kiosk.pump_until(lambda: kiosk.screen == "idle", timeout=FAST.idle_s + 5, what="idle again")


def test_no_camera_screen(terminal_for, kiosk_for):
    terminal = terminal_for("none")
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "no_camera", timeout=5, what="the no-camera screen")
    shot = kiosk.screenshot("no_camera")
    assert_not_blank(shot, "no camera")
    assert kiosk.widget("no_camera", "title").text == "未检测到摄像头"
    assert terminal.status()["camera"]["state"] == "no_camera"


def test_ui_thread_is_not_blocked_while_recognising(terminal_for, photos, kiosk_for, scene):
    """Recognise on every frame (recognize_stale_frames = 1), confirm a punch, and watch the UI
    thread. The machine is shared, so wall-clock intervals alone would measure the neighbours:
    - no storage, vision or network call may run on the UI thread (checked on every call);
    - the UI thread's own CPU time between two frames stays under 100 ms;
    - 95% of frame intervals, less the time the thread waited for a CPU, stay under 100 ms."""
    import threading

    from app.kiosk.probe import FrameProbe

    terminal = terminal_for(scene(photos["obama2.jpg"], fps=30), vision={"recognize_stale_frames": 1})
    ui_thread, on_ui_thread = threading.current_thread(), []

    def guard(owner, name):
        original = getattr(owner, name)

        def checked(*args, **kwargs):
            if threading.current_thread() is ui_thread:
                on_ui_thread.append(name)
            return original(*args, **kwargs)
        setattr(owner, name, checked)
    for owner, name in [(terminal.store, "session"), (terminal.attendance.clockin, "confirm"),
                        (terminal.attendance.clockin, "today"), (terminal.attendance.journal, "append"),
                        (terminal.pipeline, "process"), (terminal.settings, "all"), (terminal.settings, "effective"),
                        (terminal.status_board, "read"), (terminal.cards, "card"), (terminal.cards, "find"),
                        (terminal.library, "enroll"), (terminal.attendance.pusher, "deliver")]:
        guard(owner, name)
    probe = FrameProbe()
    kiosk = kiosk_for(terminal, FlowTimes(confirm_s=60, result_s=1.0), probe=probe)
    kiosk.pump_until(lambda: kiosk.app.latest_update is not None, what="vision results")
    probe.reset()
    start, descriptors = terminal.worker.processed, terminal.descriptors_computed
    t0, tapped = time.monotonic(), False
    while time.monotonic() - t0 < 5.0:
        kiosk.pump()
        if kiosk.screen == "confirm" and not tapped:
            kiosk.tap(kiosk.widget("confirm", "confirm"))
            tapped = True
    summary = probe.summary()
    print("frame probe:", summary, "vision frames:", terminal.worker.processed - start)
    assert on_ui_thread == [], f"blocking calls on the UI thread: {sorted(set(on_ui_thread))}"
    assert tapped and punches(terminal) == [("E001", "奥巴马", "face")]   # (the test's own reads)
    assert terminal.descriptors_computed - descriptors >= 10, "recognition was not running"
    assert summary["frames"] >= 40
    assert summary["worst_ui_cpu_ms"] <= 100, summary
    assert summary["p95_own_interval_ms"] <= 100, summary


def test_on_device_admin(terminal_for, photos, kiosk_for, scene):
    """Long press, PIN, enrol by capture with the keypad, network QR, threshold, self-test."""
    from app.store import FaceTemplate, Setting

    terminal = terminal_for(scene(photos["obama2.jpg"]), staff="1001_奥巴马.jpg", ui={"admin_pin": "2468"})
    kiosk = kiosk_for(terminal, FlowTimes(confirm_s=60))
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    kiosk.tap(kiosk.widget("confirm", "not_me"))   # the face in view is not asked again for a while
    kiosk.pump_until(lambda: kiosk.screen == "live", timeout=3, what="the live view")
    kiosk.long_press(kiosk.widget("live", "admin_zone"))
    kiosk.pump_until(lambda: kiosk.screen == "admin_pin", timeout=3, what="the PIN screen")
    pin = kiosk.widget("admin_pin", "keypad")
    kiosk.type_digits(pin, "1111")
    assert kiosk.screen == "admin_pin" and kiosk.app.screens["admin_pin"].message == "密码错误"
    kiosk.type_digits(pin, "2468")
    kiosk.pump_until(lambda: kiosk.screen == "admin_menu", timeout=3, what="the admin menu")
    assert_not_blank(kiosk.screenshot("admin_menu"), "admin menu")

    # enrol by capture: staff no on the keypad, three captures
    kiosk.tap(kiosk.widget("admin_menu", "enrol"))
    kiosk.pump_until(lambda: kiosk.screen == "admin_enrol", timeout=3, what="enrol")
    enrol_screen = kiosk.app.screens["admin_enrol"]
    kiosk.type_digits(kiosk.widget("admin_enrol", "keypad"), "9999")
    kiosk.pump_until(lambda: "未登记" in enrol_screen.message, timeout=5, what="unknown staff no")
    keypad = kiosk.widget("admin_enrol", "keypad")
    keypad.value = ""
    kiosk.type_digits(keypad, "1001")
    kiosk.pump_until(lambda: enrol_screen.step == "capture", timeout=5, what="the capture step")
    kiosk.pump_until(lambda: enrol_screen.quality_text == "可以拍照", what="a good view")
    assert_not_blank(kiosk.screenshot("admin_enrol"), "enrol preview")
    preview = kiosk.widget("admin_enrol", "preview")
    assert preview.texture is not None and preview.height > 100 and preview.opacity == 1, \
        (preview.texture, preview.size, preview.pos, preview.opacity)
    while enrol_screen.done_count < 3:
        before = enrol_screen.done_count
        kiosk.pump_until(lambda: enrol_screen.quality_text == "可以拍照" and not enrol_screen.busy,
                         what="a good view")
        kiosk.tap(kiosk.widget("admin_enrol", "capture"))
        kiosk.pump_until(lambda: not enrol_screen.busy, timeout=10, what="the enrolment")
        assert enrol_screen.done_count >= before, enrol_screen.message
    assert enrol_screen.step == "done" and "已登记 3 张" in enrol_screen.message
    with terminal.store.session() as s:
        photos_enrolled = s.scalar(select(func.count(func.distinct(FaceTemplate.photo_file))))
        assert photos_enrolled == 4   # one photo before, three captures (a template row per model each)

    # network: the admin URL as text and a QR code
    kiosk.app.go_admin("admin_network")
    kiosk.pump(2)
    network = kiosk.app.screens["admin_network"]
    ip = terminal.status()["ip"]
    if ip:
        assert network.url == f"http://{ip}:{terminal.config.admin.port}/"
        assert kiosk.widget("admin_network", "qr").texture is not None
    assert "摄像头: " in network.details and "camera" not in network.details
    assert_not_blank(kiosk.screenshot("admin_network"), "network")

    # settings: the threshold goes up one step, stored, audited and applied
    kiosk.app.go_admin("admin_settings")
    settings = kiosk.app.screens["admin_settings"]
    before = terminal.pipeline.rule.threshold
    kiosk.tap(kiosk.widget("admin_settings", "higher"))
    kiosk.pump_until(lambda: settings.message == "已保存", timeout=5, what="the saved setting")
    assert terminal.pipeline.rule.threshold == pytest.approx(before + 0.005)
    kiosk.tap(kiosk.widget("admin_settings", "sound"))
    kiosk.pump_until(lambda: settings.message == "已保存" and not terminal.sound, timeout=5, what="sound off")
    with terminal.store.session() as s:
        stored = {r.key: r.value for r in s.query(Setting)}
    threshold_key = threshold_key_of(terminal.config.vision.embedder)
    assert stored[threshold_key] == str(round(before + 0.005, 3)) and stored["ui.sound"] == "false"
    assert_not_blank(kiosk.screenshot("admin_settings"), "settings")

    # self-test: the outputs are exercised and the report names every part
    kiosk.app.go_admin("admin_selftest")
    selftest = kiosk.app.screens["admin_selftest"]
    buzzer = terminal.pin_factory.pin(MOCK_PINS["buzzer_pin"])
    beeps = len(buzzer.states)
    kiosk.tap(kiosk.widget("admin_selftest", "run"))
    kiosk.pump_until(lambda: "数据库" in selftest.report, timeout=10, what="the self-test")
    # in Chinese (issue 23), readable at arm's length
    assert "正常  摄像头" in selftest.report and "正常  数据库" in selftest.report, selftest.report
    assert "未配置" in selftest.report and "可用" in selftest.report, selftest.report
    assert kiosk.widget("admin_selftest", "report").font_size >= 18
    assert len(buzzer.states) > beeps
    assert_not_blank(kiosk.screenshot("admin_selftest"), "self-test")
    # a job that fails on the worker: its error is shown and the screen is usable again
    def broken():
        raise RuntimeError("the database is locked")
    terminal.self_test = broken
    kiosk.tap(kiosk.widget("admin_selftest", "run"))
    kiosk.pump_until(lambda: not selftest.busy, timeout=10, what="the failed self-test")
    assert selftest.report == "the database is locked"
    del terminal.self_test

    kiosk.app.go_admin("admin_menu")
    kiosk.tap(kiosk.widget("admin_menu", "exit"))
    kiosk.pump(2)
    assert kiosk.screen in ("live", "confirm")


def test_long_press_without_a_pin_keeps_the_admin_closed(terminal_for, kiosk_for):
    terminal = terminal_for("test://?width=640&height=480&fps=15")
    kiosk = kiosk_for(terminal, FlowTimes(idle_s=60))
    kiosk.long_press(kiosk.widget("live", "admin_zone"))
    assert kiosk.screen == "live" and kiosk.app.notice_text == "未设置管理密码"


def test_a_setting_change_reaches_the_window_at_its_next_frame(terminal_for, kiosk_for):
    """A run-time setting saved on this terminal is pushed to the window (the settings service's
    subscription): its properties and the status bar follow at the next frame, with no poll."""
    terminal = terminal_for("test://?width=640&height=480&fps=15")
    kiosk = kiosk_for(terminal, FlowTimes(confirm_s=8, idle_s=60))
    # neither the clock's tick nor the housekeeper's status readings may carry the change here
    kiosk.app._events[1].cancel()
    kiosk.app._unsubscribe[0]()
    assert kiosk.app.device_name != "东门" and kiosk.app.lang == "zh_CN"
    terminal.change_setting("device.name", "东门")
    terminal.change_setting("device.language", "en")
    terminal.change_setting("attendance.confirm_seconds", 21)
    kiosk.pump(2)
    assert kiosk.app.device_name == "东门" and kiosk.app.language == kiosk.app.lang == "en"
    assert kiosk.app.flow.times.confirm_s == 21
    assert "东门" in [getattr(w, "text", None) for w in kiosk.app.screens["live"].walk()]

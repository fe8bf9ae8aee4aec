"""A queue at the real kiosk (issue 23): the next person steps into the spot while a card is up.

The real terminal and Kivy window (tests/helpers/kiosk_window.py), a camera source the test switches from one
person to the next in one frame, at the same place and size; punches read back from the database;
screenshots in build/test-artefacts/kiosk/.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sqlalchemy import select

from tests.helpers.kiosk_window import MOCK_PINS, Kiosk, assert_not_blank, configure, enrol

configure()

from app.hardware.sources import FrameSource  # noqa: E402
from app.kiosk.flow import FlowTimes  # noqa: E402  (after configure: Kivy reads its settings at import)

TIMES = FlowTimes(confirm_s=30.0, result_s=2.0, unknown_s=1.0, idle_s=60.0)


class QueueSource(FrameSource):
    """Shows person A until `next_person()`, then person B in the same spot, at `fps`."""

    description = "queue"

    def __init__(self, first: np.ndarray, second: np.ndarray, fps: float = 15.0):
        self.pictures, self.fps = (first, second), fps
        self._lock = threading.Lock()
        self._second = False
        self.switched_at: float | None = None   # monotonic time of the first frame of B
        self._next = 0.0

    def open(self) -> None:
        self._next = time.monotonic()

    def next_person(self) -> None:
        with self._lock:
            self._second = True

    def first_person(self) -> None:
        """The first person comes back (a new visit)."""
        with self._lock:
            self._second = False

    def read(self, timeout: float) -> np.ndarray | None:
        wait = self._next - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return None
        if wait > 0:
            time.sleep(wait)
        self._next = max(self._next + 1.0 / self.fps, time.monotonic() - 1.0)
        with self._lock:
            if self._second and self.switched_at is None:
                self.switched_at = time.monotonic()   # before the camera stamps this frame
            frame = self.pictures[1 if self._second else 0]
        # a little sensor noise, so the frames are not bit-identical
        noise = np.random.default_rng().integers(-2, 3, frame.shape, dtype=np.int16)
        return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def spot_frames(frames):
    """640x480 frames of obama2 and biden, faces 170 px wide centred at the same point."""
    from app import native
    from app.bench.clip import Part, StagedClip, find_actor

    detector = native.FaceDetector()
    a = find_actor("obama", frames["obama2.jpg"], detector)
    b = find_actor("biden", frames["biden.jpg"], detector)
    clip = StagedClip([Part(a, ((0, 320, 230, 170), (1, 320, 230, 170))),
                       Part(b, ((2, 320, 230, 170), (3, 320, 230, 170)))], 640, 480, tail=0)
    return clip.frame(0), clip.frame(2), clip.background.copy()


@pytest.fixture
def queue_kiosk(make_config, instance, models, photos, font, spot_frames):
    made = []

    def build(staff_files, then="biden", ui=None, times=TIMES, light=1.0):
        from app.hardware.camera import Camera
        from app.hardware.gpio import make_pin_factory
        from app.services.terminal import Terminal

        first, second, nobody = spot_frames
        if light != 1.0:   # the room's light: the whole picture darker
            first = np.clip(first.astype(np.float32) * light, 0, 255).astype(np.uint8)
        source = QueueSource(first, second if then == "biden" else nobody)
        camera = Camera("test://?width=640&height=480&fps=15", source_factory=lambda _spec: source)
        # liveness off: the scene is flat pictures (see test_kiosk_ui); this is about identity
        config = make_config(gpio=MOCK_PINS, attendance={"flush_seconds": 600}, liveness={"level": "off"},
                             ui=ui or {})
        factory = make_pin_factory("mock")
        terminal = Terminal(config, instance, models=models, pin_factory=factory, camera=camera)
        made.append(terminal)
        for photo, name in staff_files:
            enrol(terminal, photos[photo], name)
        terminal.start()
        kiosk = Kiosk(terminal, font, times)
        made.append(kiosk)
        return kiosk, source
    yield build
    for thing in reversed(made):
        if isinstance(thing, Kiosk):
            thing.close()
        else:
            thing.stop()


@pytest.fixture
def font():
    from app.fonts import find_cjk_font

    return find_cjk_font()


def punched(terminal):
    from app.store import Punch

    terminal.attendance.flusher.flush()
    with terminal.store.session() as s:
        return s.execute(select(Punch.staff_no, Punch.name)).all()


def card_name(kiosk) -> str | None:
    return kiosk.app.screens["confirm"].name_text if kiosk.screen == "confirm" else None


def wait_past_the_switch(kiosk, source, until, what: str) -> None:
    """Pump until `until()`; meanwhile, once a result from B's frames is applied, the card must
    never show A."""
    def check():
        update = kiosk.app.latest_update
        from_b = (update is not None and source.switched_at is not None
                  and update.result.timestamp >= source.switched_at)
        if from_b:
            assert card_name(kiosk) != "奥巴马", "A's card is shown over B's face"
        return from_b and until()
    kiosk.pump_until(check, what=what)


def test_the_card_of_the_person_who_stepped_aside_goes_and_the_next_gets_their_own(queue_kiosk):
    kiosk, source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg"), ("biden.jpg", "E002_拜登.jpg")])
    kiosk.pump_until(lambda: card_name(kiosk) == "奥巴马", what="A's card")
    assert_not_blank(kiosk.screenshot("queue_card_a"), "A's card")
    source.next_person()
    wait_past_the_switch(kiosk, source, lambda: card_name(kiosk) == "拜登", "B's own card")
    assert kiosk.app.flow.withdrawn >= 1
    assert_not_blank(kiosk.screenshot("queue_card_b"), "B's card")
    kiosk.tap(kiosk.widget("confirm", "confirm"))
    kiosk.pump_until(lambda: kiosk.screen == "result", timeout=10, what="the result")
    assert kiosk.app.screens["result"].kind == "success"
    assert punched(kiosk.terminal) == [("E002", "拜登")], "only B, who tapped, is clocked in"


def test_an_unenrolled_next_person_sees_no_card_and_is_told_not_recognised(queue_kiosk):
    kiosk, source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")])
    kiosk.pump_until(lambda: card_name(kiosk) == "奥巴马", what="A's card")
    source.next_person()
    wait_past_the_switch(kiosk, source, lambda: kiosk.screen == "result", "未识别 for B")
    assert kiosk.app.screens["result"].kind == "unknown" and kiosk.app.screens["result"].title_text == "未识别"
    assert kiosk.app.flow.withdrawn >= 1
    assert_not_blank(kiosk.screenshot("queue_unknown_b"), "未识别 for B")
    assert punched(kiosk.terminal) == []


def test_english_is_for_the_person_who_switched_it(queue_kiosk):
    """The language switch reverts to the terminal's language once that person has gone."""
    kiosk, source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")], then="nobody")
    kiosk.pump_until(lambda: card_name(kiosk) == "奥巴马", what="A's card")
    kiosk.tap(kiosk.widget("confirm", "not_me"))
    kiosk.pump_until(lambda: kiosk.screen == "live", timeout=5, what="the live view")
    language = next(w for w in kiosk.app.screens["live"].walk() if getattr(w, "text", None) == "English")
    kiosk.tap(language)
    kiosk.pump(2)
    assert kiosk.app.lang == "en"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:        # still in front of the camera: stays English
        kiosk.pump()
        assert kiosk.app.lang == "en"
    assert_not_blank(kiosk.screenshot("live_en_person"), "English for this person")
    source.next_person()                      # they walk away
    kiosk.pump_until(lambda: kiosk.app.lang == "zh_CN", timeout=20, what="back to Chinese")
    assert source.switched_at is not None and time.monotonic() - source.switched_at >= 4.0
    assert language.text == "English"


def test_auto_punch_clocks_in_each_person_of_the_queue_as_themselves(queue_kiosk):
    kiosk, source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg"), ("biden.jpg", "E002_拜登.jpg")],
                                ui={"auto_punch": True})
    assert kiosk.app.flow.auto is not None
    kiosk.pump_until(lambda: punched(kiosk.terminal) == [("E001", "奥巴马")], what="A clocked in without a tap")
    assert_not_blank(kiosk.screenshot("auto_punch_a"), "A's result")
    source.next_person()
    wait_past_the_switch(kiosk, source, lambda: len(punched(kiosk.terminal)) == 2, "B clocked in")
    assert sorted(punched(kiosk.terminal)) == [("E001", "奥巴马"), ("E002", "拜登")]


def test_confirm_card_times_out(queue_kiosk):
    """A still face (this scene has no ball passing over it, unlike test://: a face half covered
    is not vouched for and its card is withdrawn) keeps its card until the timeout."""
    from dataclasses import replace

    kiosk, _source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")], times=replace(TIMES, confirm_s=4.0))
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    pending = kiosk.app.flow.pending   # when the card was shown by the flow's own clock, not when seen
    assert pending.deadline - pending.shown_at == pytest.approx(4.0)
    kiosk.pump_until(lambda: kiosk.screen != "confirm", timeout=60, what="the timeout")
    assert time.monotonic() >= pending.deadline and kiosk.app.flow.withdrawn == 0
    assert kiosk.screen == "live"
    assert punched(kiosk.terminal) == []


def test_after_clocking_in_the_person_who_stays_is_not_asked_again(queue_kiosk):
    """Beyond the old 10 s quiet time: one card per visit (section 2 of issue 23)."""
    kiosk, _source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")])
    kiosk.pump_until(lambda: card_name(kiosk) == "奥巴马", what="the card")
    kiosk.tap(kiosk.widget("confirm", "confirm"))
    kiosk.pump_until(lambda: kiosk.screen == "result", timeout=10, what="the result")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 14.0:      # the result times out; they stay in view
        kiosk.pump()
        assert kiosk.screen != "confirm", "asked again while still in view"
    assert kiosk.screen == "live" and punched(kiosk.terminal) == [("E001", "奥巴马")]
    assert_not_blank(kiosk.screenshot("stays_after_clocking_in"), "live view after clocking in")


def test_nobody_in_view_is_asked_to_look_at_the_camera(queue_kiosk):
    kiosk, source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")], then="nobody")
    source.next_person()
    kiosk.pump_until(lambda: kiosk.app.hint_text == "请看摄像头", what="请看摄像头")
    assert_not_blank(kiosk.screenshot("live_look_at_camera"), "请看摄像头")


def test_not_me_holds_for_that_face_until_it_leaves(queue_kiosk):
    """不是我 is not asked again of the same face while it stays (it came back after ~15 s before);
    once the person has left and comes back, it is a new visit and the card is offered again."""
    kiosk, source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")], then="nobody")
    kiosk.pump_until(lambda: card_name(kiosk) == "奥巴马", what="the card")
    kiosk.tap(kiosk.widget("confirm", "not_me"))
    kiosk.pump_until(lambda: kiosk.screen == "live", timeout=60, what="the live view")
    stays = kiosk.terminal.worker.processed + 200      # about 13 s of frames at 15 fps, however slow
    kiosk.pump_until(lambda: (kiosk.terminal.worker.processed >= stays) or kiosk.screen == "confirm",
                     timeout=300, what="frames of the same face")
    assert kiosk.screen != "confirm", "不是我 asked again of the same face"
    assert_not_blank(kiosk.screenshot("not_me_holds"), "live view after 不是我")
    source.next_person()                               # they walk away ...
    kiosk.pump_until(lambda: kiosk.app.hint_text == "请看摄像头", timeout=60, what="nobody in view")
    gone = kiosk.terminal.worker.processed + 60        # ... for about 4 s of frames
    kiosk.pump_until(lambda: kiosk.terminal.worker.processed >= gone, timeout=120, what="a while away")
    source.first_person()                              # ... and come back: a new visit
    kiosk.pump_until(lambda: card_name(kiosk) == "奥巴马", timeout=60, what="the card on a new visit")
    assert_not_blank(kiosk.screenshot("not_me_new_visit"), "the card on a new visit")
    assert punched(kiosk.terminal) == []


def test_a_dark_face_is_told_the_light_is_poor(queue_kiosk):
    """A face in poor light: 光线不足 on the real window (that the bar does not flicker with the
    quality figures is tested on the flow, where frames can be fed one by one; here a dark face
    near the detector's limit can be missed under load, which is not what this test is about)."""
    kiosk, _source = queue_kiosk([("obama.jpg", "E001_奥巴马.jpg")], light=0.3)
    kiosk.pump_until(lambda: kiosk.app.hint_text == "光线不足", timeout=60, what="光线不足")
    assert_not_blank(kiosk.screenshot("live_too_dark"), "光线不足")
    assert kiosk.screen == "live" and punched(kiosk.terminal) == []

"""Driving the real kiosk in this process: a real Terminal (store, camera, vision, scheduler),
the real Kivy app on SDL's offscreen window, frames pumped by the test, taps by UnitTestTouch.

Kivy reads its settings at import, so `configure()` runs before anything imports Kivy; one
window serves every test of the session (Kivy has one window per process). Fixtures that open it:
tests/kiosk/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np

from app.kiosk.flow import FlowTimes   # no Kivy in the flow: importable before configure()

ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts" / "kiosk"
MOCK_PINS = {"pin_factory": "mock", "relay_pin": 17, "buzzer_pin": 18, "led_green_pin": 22, "led_red_pin": 23}
FAST = FlowTimes(confirm_s=4.0, result_s=2.0, unknown_s=2.0, idle_s=2.0)


def configure() -> None:
    from app.config import load_config_file
    from app.kiosk.window import configure_kivy

    os.environ.pop("DISPLAY", None)
    os.environ.pop("WAYLAND_DISPLAY", None)
    configure_kivy(load_config_file(None, env={}), windowed=True)


def portrait(photo: Path, folder: Path) -> Path:
    """A head-and-shoulders crop of a photo, so the test scene shows the face large enough."""
    import cv2

    from app import native

    image = cv2.imdecode(np.fromfile(photo, np.uint8), cv2.IMREAD_COLOR)
    boxes, _, _ = native.FaceDetector().detect(image, downscale=0, min_face=40)
    assert len(boxes) == 1, photo
    l, t, r, b = boxes[0]
    m = 0.6 * (r - l)
    h, w = image.shape[:2]
    crop = image[max(0, int(t - m)):min(h, int(b + m)), max(0, int(l - m)):min(w, int(r + m))]
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"portrait-{photo.name}"
    cv2.imwrite(str(out), crop)
    return out


def enrol(terminal, photo: Path, filename: str) -> None:
    result = terminal.library.enroll_file(photo.read_bytes(), filename)
    assert result.ok, result.as_dict()


class Kiosk:
    """The app on the shared window; `pump` runs frames the way Kivy's main loop does."""

    def __init__(self, terminal, font, times=None, probe=None):
        from kivy.base import EventLoop

        from app.kiosk.app import KioskApp
        from app.kiosk.flow import ClockInFlow

        EventLoop.ensure_window()
        self.window = EventLoop.window
        self.terminal = terminal
        flow = ClockInFlow(times, have_sensor=terminal.sensor is not None) if times else None
        self.app = KioskApp(terminal, font, flow=flow, probe=probe)
        terminal.ui_attached = True
        try:
            self.app._run_prepare()
            self.pump(3)
        except BaseException:
            # an app that failed half way must not keep running on the shared window's clock
            # into the next test (the caller never gets this object to close)
            with contextlib.suppress(Exception):
                self._leave_window()
            raise

    @property
    def screen(self) -> str:
        return self.app.manager.current

    def pump(self, frames: int = 1) -> None:
        from kivy.base import EventLoop

        for _ in range(frames):
            EventLoop.idle()

    def pump_until(self, condition, timeout: float = 20.0, what: str = "condition") -> float:
        """Pump frames until `condition()`; the seconds it took."""
        t0 = time.monotonic()
        while not condition():
            if time.monotonic() - t0 > timeout:
                update = self.app.latest_update
                seen = [(t.track_id, t.quality.reason, t.recognition and t.recognition.reason,
                         t.recognition and round(t.recognition.similarity, 3)) for t in update.result.tracks] \
                    if update else None
                raise AssertionError(f"timed out after {timeout} s waiting for {what} (screen {self.screen}, "
                                     f"camera {self.terminal.status()['camera']}, last tracks {seen}, "
                                     f"vision frames {self.terminal.worker.processed}, flow {vars(self.app.flow)}, "
                                     f"cards {update and list(update.cards)})")
            self.pump()
        return time.monotonic() - t0

    def tap(self, widget) -> None:
        from kivy.tests.common import UnitTestTouch

        self.pump(2)   # a screen just shown is laid out on its first frames
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def long_press(self, widget, seconds: float = 2.3) -> None:
        from kivy.tests.common import UnitTestTouch

        self.pump(2)
        touch = UnitTestTouch(*widget.to_window(widget.center_x, widget.center_y))
        touch.touch_down()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            self.pump()
        touch.touch_up()
        self.pump(2)

    def type_digits(self, keypad, digits: str) -> None:
        """Tap the digits, then 确定."""
        keys = {k.key: k for k in keypad.children}
        for digit in digits:
            self.tap(keys[digit])
        self.tap(keys["ok"])

    def widget(self, screen: str, wid: str):
        return self.app.screens[screen].ids[wid]

    def screenshot(self, name: str) -> np.ndarray:
        """Save the window's picture as build/test-artefacts/kiosk/<name>.png; RGB (h, w, 3)."""
        self.pump(2)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        image = self.app.root.export_as_image()
        image.save(str(ARTEFACTS / f"{name}.png"), flipped=False)
        texture = image.texture
        w, h = texture.size
        rgba = np.frombuffer(texture.pixels, np.uint8).reshape(h, w, 4)
        return rgba[::-1, :, :3].copy()   # GL rows run bottom-up

    def close(self) -> None:
        self._leave_window()
        self.terminal.stop()

    def _leave_window(self) -> None:
        self.app.detach()
        self.app.dispatch("on_stop")   # kv's `app` proxy forgets this app only on its on_stop
        if self.app.root is not None and self.app.root.parent is not None:
            self.window.remove_widget(self.app.root)


def assert_not_blank(picture: np.ndarray, what: str) -> None:
    assert picture.std() > 8, f"{what}: the picture is (nearly) one colour"
    assert picture.mean() > 10, f"{what}: the picture is black"

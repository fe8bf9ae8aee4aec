"""Fixtures of the kiosk tests: a started terminal on a fresh instance, the kiosk window on it
(helpers: tests/helpers/kiosk_window.py), loguru to each test (the terminal's threads log)."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.helpers.kiosk_window import FAST, MOCK_PINS, Kiosk, enrol, portrait

# How fast a scene's portrait sways (test://'s drift). A person answering a card stands about
# still; at the synthetic scene's full sway (~120 px/s) a loaded machine that processes a frame
# a second sees the face jump by most of its width between two frames, loses the track and
# takes the card back (and shows it again, with the punch state reset) in the middle of a test.
# The liveness tests keep the full sway (drift=1.0): a picture moved about is what they refuse.
SCENE_DRIFT = 0.2


@pytest.fixture(autouse=True)
def _loguru_to_this_test(loguru_to_this_test):
    """Every kiosk test logs to its own stderr (tests/conftest.py)."""


@pytest.fixture
def scene(tmp_path):
    """A moving camera scene (640x480) with a portrait cut from a registry photo swaying slowly in it."""
    def make(photo, fps=15, drift=SCENE_DRIFT) -> str:
        image = portrait(photo, tmp_path / "scenes")
        return f"test://?image={urllib.parse.quote(str(image))}&width=640&height=480&fps={fps}&drift={drift}"
    return make


@pytest.fixture
def terminal_for(make_config, instance, models, photos):
    """A started terminal on a fresh instance with obama.jpg enrolled as E001 奥巴马."""
    made = []

    def build(source: str, *, sensor_port=None, staff="E001_奥巴马.jpg", **sections):
        from app.hardware.gpio import make_pin_factory
        from app.services.terminal import Terminal

        # test:// moves a flat photo about: a picture, which the liveness check refuses (it is
        # asked to turn, then 活体检测未通过; see test_a_flat_picture_is_refused_and_audited):
        # these tests are about the kiosk's flow, so the check is off unless a test asks for it
        sections.setdefault("liveness", {"level": "off"})
        config = make_config(camera={"source": source}, gpio=MOCK_PINS,
                             attendance={"flush_seconds": 600}, **sections)
        factory = make_pin_factory("mock")
        terminal = Terminal(config, instance, models=models, pin_factory=factory, sensor_port=sensor_port)
        terminal.pin_factory = factory
        enrol(terminal, photos["obama.jpg"], staff)
        made.append(terminal)
        return terminal.start()
    yield build
    for t in made:
        t.stop()


@pytest.fixture
def kiosk_for(terminal_for, font):
    """Opens the kiosk app on a started terminal; closed at teardown, before the terminal stops."""
    opened = []

    def open_kiosk(terminal, times=FAST, probe=None):
        opened.append(Kiosk(terminal, font, times, probe=probe))
        return opened[-1]
    yield open_kiosk
    for kiosk in reversed(opened):
        kiosk.close()


@pytest.fixture
def font():
    from app.fonts import find_cjk_font

    return find_cjk_font()

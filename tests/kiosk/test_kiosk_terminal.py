"""The Terminal without a window: services, status, run-time settings, confirm and stop."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.vision.decision import DecisionRule

from tests.helpers.kiosk_window import MOCK_PINS, enrol
from tests.helpers.waiting import wait_for


class StatusServer:
    """A real HTTP service on the terminal's service list, answering with `status_provider()`."""

    def __init__(self, status_provider, events):
        self.status_provider, self.events = status_provider, events
        self.httpd = None

    def start(self):
        provider = self.status_provider

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(provider()).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.events.append("start")
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
        self.events.append("stop")


class BrokenService:
    def start(self):
        raise OSError("address already in use")

    def stop(self):
        raise AssertionError("a service that did not start is not stopped")


@pytest.fixture
def terminal(make_config, instance, models, photos):
    from app.hardware.gpio import make_pin_factory
    from app.services.terminal import Terminal

    config = make_config(camera={"source": "test://?width=640&height=480&fps=15"}, gpio=MOCK_PINS,
                         attendance={"flush_seconds": 600})
    t = Terminal(config, instance, models=models, pin_factory=make_pin_factory("mock"))
    enrol(t, photos["obama.jpg"], "E001_奥巴马.jpg")
    yield t
    t.stop()


def test_services_status_settings_and_a_clean_stop(terminal):
    from app.store import Punch

    events = []
    server = StatusServer(terminal.status, events)
    terminal.add_service(BrokenService())
    terminal.add_service(server)
    terminal.start()
    assert events == ["start"]
    with urllib.request.urlopen(server.url, timeout=60) as reply:
        status = json.load(reply)
    assert {"camera", "last_recognition_utc", "journal_pending", "push_pending", "disk_free_bytes"} <= set(status)
    assert status["camera"]["state"] in ("starting", "streaming") and status["disk_free_bytes"] > 0

    # the admin changes the threshold through the settings service: applied within a poll
    # (the key of the embedder in use: a dlib threshold must not steer a fused gallery)
    threshold_key = DecisionRule.setting_keys(terminal.config.vision.embedder)[0]
    terminal.settings.set(threshold_key, 0.9, actor="admin")
    terminal.settings.set("attendance.dedupe_seconds", 5, actor="admin")
    wait_for(lambda: terminal.pipeline.rule.threshold == 0.9
             and terminal.attendance.clockin.dedupe.total_seconds() == 5, timeout=60)
    # confirm timeout and door relay mode from the admin's settings page reach the terminal too
    relay = terminal.gpio.factory.pin(MOCK_PINS["relay_pin"])
    terminal.feedback("success")
    wait_for(lambda: any(s.state for s in relay.states), timeout=60)
    terminal.settings.set("attendance.confirm_seconds", 15, actor="admin")
    terminal.settings.set("gpio.relay_mode", "off", actor="admin")
    wait_for(lambda: terminal.confirm_seconds == 15 and terminal.relay_mode == "off", timeout=60)
    wait_for(lambda: not terminal.gpio.relay.is_open and not relay.state, timeout=60)  # the pulse ended
    pulses = len(relay.states)
    terminal.feedback("success")   # a pulse energises the relay before open_door returns
    assert not any(s.state for s in relay.states[pulses:]), "relay_mode off still opened the door"

    card = terminal.card(1)
    assert (card.staff_no, card.name) == ("E001", "奥巴马") and card.photo.shape == (120, 120, 3)
    result = terminal.confirm(card, 0.97).result(timeout=60)
    assert result.recorded and terminal.status()["journal_pending"] == 1
    terminal.stop()
    assert events == ["start", "stop"]
    assert not terminal.worker.is_alive() and not terminal.scheduler.running
    with terminal.store.engine.connect() as conn:   # disposed engines reconnect on demand
        assert conn.execute(select(Punch.staff_no)).scalars().all() == ["E001"]


def test_a_missing_camera_is_reported_not_fatal(make_config, instance, models):
    from app.services.terminal import Terminal

    t = Terminal(make_config(camera={"source": "none"}, gpio={"enabled": False}), instance, models=models)
    try:
        t.start()
        wait_for(lambda: t.status()["camera"]["state"] == "no_camera", timeout=60)
        status = t.status()
        assert status["camera"]["state"] == "no_camera" and "source = none" in status["camera"]["reason"]
        assert status["gpio"]["state"] == "disabled"
    finally:
        t.stop()


def test_the_card_thumbnail_never_reads_outside_the_photos_folder(tmp_path, photos):
    """A stored photo name is joined to the photos folder only when it stays inside it."""
    from app.services.terminal import _thumbnail

    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    (tmp_path / "outside.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    (photos_dir / "inside.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    assert _thumbnail(photos_dir, "inside.jpg").shape[:2] == (_thumbnail_size(),) * 2
    assert _thumbnail(photos_dir, "../outside.jpg") is None
    assert _thumbnail(photos_dir, str(tmp_path / "outside.jpg")) is None


def _thumbnail_size() -> int:
    from app.services.terminal import PHOTO_SIZE

    return PHOTO_SIZE

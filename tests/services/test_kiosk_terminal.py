"""The Terminal without a window: services, status, run-time settings, confirm and stop."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.services.settings import threshold_key as threshold_key_of

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
    threshold_key = threshold_key_of(terminal.config.vision.embedder)
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

    card = terminal.cards.card(1)
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
    from app.services.cards import thumbnail as _thumbnail

    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    (tmp_path / "outside.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    (photos_dir / "inside.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    assert _thumbnail(photos_dir, "inside.jpg").shape[:2] == (_thumbnail_size(),) * 2
    assert _thumbnail(photos_dir, "../outside.jpg") is None
    assert _thumbnail(photos_dir, str(tmp_path / "outside.jpg")) is None


def _thumbnail_size() -> int:
    from app.services.cards import PHOTO_SIZE

    return PHOTO_SIZE


def test_status_readings_are_pushed_to_listeners(terminal):
    """The housekeeper's status readings go to every client (the kiosk's status bar): nobody polls."""
    readings, unsubscribed = [], []
    terminal.on_status(lambda _status: 1 / 0)   # a failing client does not keep the others from theirs
    terminal.on_status(readings.append)
    unsubscribe = terminal.on_status(unsubscribed.append)
    status = terminal.status_board.refresh()   # before start: no housekeeper yet, this thread reads
    assert readings == [status] == unsubscribed and terminal.status_board.latest is status
    unsubscribe()
    terminal.start()
    wait_for(lambda: len(readings) >= 2 and readings[-1]["camera"]["state"] == "streaming", timeout=60)
    assert unsubscribed == [status]
    result = terminal.confirm(terminal.cards.card(1), 0.97).result(timeout=60)
    assert result.recorded
    wait_for(lambda: readings[-1]["journal_pending"] == 1, timeout=60)   # the next reading carries it


@pytest.fixture
def facing_terminal(make_config, instance, models, photos, tmp_path):
    """A started terminal whose camera shows obama2.jpg, with E001 enrolled from obama.jpg."""
    import urllib.parse

    from app.hardware.gpio import make_pin_factory
    from app.services.terminal import Terminal

    from tests.helpers.kiosk_window import portrait

    image = portrait(photos["obama2.jpg"], tmp_path / "scene")
    config = make_config(camera={"source": f"test://?image={urllib.parse.quote(str(image))}&width=640&height=480&fps=15"},
                         gpio=MOCK_PINS, attendance={"flush_seconds": 600}, liveness={"level": "off"})
    t = Terminal(config, instance, models=models, pin_factory=make_pin_factory("mock"))
    enrol(t, photos["obama.jpg"], "E001_奥巴马.jpg")
    t.start()
    wait_for(lambda: t.camera.slot.latest() is not None, timeout=120)
    yield t
    t.stop()


def test_a_capture_enrols_the_camera_frame_itself(facing_terminal, instance, monkeypatch):
    """On-device enrolment hands the frame and the card's identity to the library: nothing is
    decoded again; the stored photo is a JPEG of the frame, with a template row per model."""
    import cv2
    import numpy as np

    from app.library import service
    from app.store import FaceTemplate

    t = facing_terminal
    decoded = []
    real = service.decode_image
    monkeypatch.setattr(service, "decode_image", lambda data, **kw: decoded.append(len(data)) or real(data, **kw))
    card = t.cards.find("E001")
    result = t.enroll_capture(card)
    assert result.ok and (result.staff_no, result.name, result.file) == ("E001", "奥巴马", "E001_奥巴马.jpg"), result
    assert decoded == [], "the captured frame was encoded and decoded again"
    with t.store.session() as s:
        rows = s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == s.get(
            FaceTemplate, result.template_id).photo_file)).all()
        assert [r.model_id for r in rows] == list(t.library.kinds) and rows[0].staff_id == card.staff_id
        stored = instance.photos_dir / rows[0].photo_file
    assert stored.suffix == ".jpg"
    photo = cv2.imdecode(np.fromfile(stored, np.uint8), cv2.IMREAD_COLOR)
    assert photo.shape == (480, 640, 3)
    assert t.library.gallery.match(t.library.analyse(photo).vector).staff_id == card.staff_id


def test_a_capture_for_a_person_deleted_meanwhile_is_refused(facing_terminal):
    """The card was found, then an admin deleted the person: the capture does not bring them back."""
    from app.store import Staff

    t = facing_terminal
    card = t.cards.find("E001")
    with t.store.session() as s:
        s.delete(s.get(Staff, card.staff_id))
    t.library.load_gallery()
    result = t.enroll_capture(card)
    assert (result.ok, result.reason) == (False, "unknown_staff") and result.message() == "工号未登记", result
    with t.store.session() as s:
        assert s.scalar(select(Staff.id).where(Staff.staff_no == "E001")) is None

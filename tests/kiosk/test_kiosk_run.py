"""`daka run` as a process: SIGTERM and window close stop it cleanly, with nothing lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers.children import free_port, kiosk_child
from tests.helpers.kiosk_window import MOCK_PINS, portrait

CHILD = Path(__file__).with_name("kiosk_child.py")


def prepare(instance, photos, tmp_path, **sections):
    """An instance with obama.jpg enrolled and a scene showing obama2.jpg; flushes only at exit."""
    import tomli_w

    from app.config import load_config
    from app.library import FaceLibrary
    from app.models import resolve
    from app.store import open_store
    from app.services.compose import open_vision
    from app.vision.gallery import FaceGallery

    image = portrait(photos["obama2.jpg"], tmp_path / "scene")
    settings = {"camera": {"source": f"test://?image={urllib.parse.quote(str(image))}&width=640&height=480&fps=15"},
                "gpio": MOCK_PINS, "attendance": {"flush_seconds": 600},
                # test:// moves a flat photo: a picture, which liveness refuses (tests/kiosk/test_kiosk_ui.py)
                "liveness": {"level": "off"},
                "admin": {"host": "127.0.0.1", "port": free_port()}, **sections}
    instance.config_path.write_text(tomli_w.dumps(settings), encoding="utf-8")
    config = load_config(instance)
    store = open_store(config, instance)
    library = FaceLibrary(store, open_vision(config, resolve(None)), FaceGallery(), instance.photos_dir,
                          config.library, max_bytes=5 << 20)
    assert library.enroll_file(photos["obama.jpg"].read_bytes(), "E001_奥巴马.jpg").ok
    store.dispose()


def stored_punches(instance):
    from app.config import load_config
    from app.store import Punch, open_store

    store = open_store(load_config(instance), instance)
    with store.session() as s:
        rows = s.execute(select(Punch.staff_no, Punch.name)).all()
    store.dispose()
    return rows


@pytest.mark.parametrize("how", ["sigterm", "sigint"])
def test_a_punch_survives_a_stop_signal(instance, photos, tmp_path, how):
    prepare(instance, photos, tmp_path)
    child = kiosk_child([str(CHILD), str(instance.root), "tap"])
    try:
        child.wait_for(lambda: "punched\n" in child.out, 90, "punch")
        assert child.signal_and_wait(signal.SIGTERM if how == "sigterm" else signal.SIGINT) == 0, child.log[-3000:]
    finally:
        child.kill()
    log = child.log
    assert "SDL renders the window offscreen" in log
    assert f"signal {how.upper()}: stopping" in log
    assert "terminal stopped: journal flushed, 0 pending" in log
    # flush_seconds is 600: only the flush at the stop can have stored it
    assert stored_punches(instance) == [("E001", "奥巴马")]


def test_closing_the_window_stops_cleanly(instance, photos, tmp_path):
    prepare(instance, photos, tmp_path)
    child = kiosk_child([str(CHILD), str(instance.root), "tap", "close"])
    try:
        child.wait_for(lambda: "punched\n" in child.out, 90, "punch")
        assert child.proc.wait(timeout=120) == 0, child.log[-3000:]
    finally:
        child.kill()
    assert "window closed: stopping" in child.log
    assert "terminal stopped: journal flushed, 0 pending" in child.log
    assert stored_punches(instance) == [("E001", "奥巴马")]


def test_headless_run_serves_the_admin_tells_systemd_and_stops_on_sigterm(instance, photos, tmp_path):
    """Under systemd (Type=notify, WatchdogSec=): READY, watchdog pings, STOPPING; the admin answers."""
    prepare(instance, photos, tmp_path)
    from app.config import load_config

    port = load_config(instance).admin.port
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(120)  # generous correctness deadlines: a loaded machine starts slowly
        child = kiosk_child(["-m", "app.cli.main", "--instance", str(instance.root), "run", "--headless"],
                            env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
        try:
            assert listener.recv(64) == b"READY=1"
            child.wait_for(lambda: "terminal started" in child.log, 120, "start")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60) as reply:
                assert reply.status == 200 and json.load(reply)
            assert listener.recv(64) == b"WATCHDOG=1"    # fed by the running terminal
            assert child.signal_and_wait(signal.SIGTERM) == 0, child.log[-3000:]
            messages = []
            listener.settimeout(2)
            try:
                while True:
                    messages.append(listener.recv(64))
            except TimeoutError:
                pass
        finally:
            child.kill()
    assert b"STOPPING=1" in messages
    assert "headless: no window" in child.log and "terminal stopped" in child.log
    assert "kivy" not in child.log.lower()


@pytest.mark.slow
def test_bench_ui_prints_the_figures(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "--instance", str(tmp_path), "bench", "ui",
                           "--json", "--seconds", "2", "--walkups", "2"], capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in os.environ.items() if k != "DISPLAY"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    result = json.loads(proc.stdout)
    assert result["live_recognising"]["descriptors_per_s"] > 1
    assert result["live_empty_scene"]["descriptors_per_s"] == 0
    assert result["walk_ups"]["count"] >= 1 and result["walk_ups"]["results"] == ["success"]
    assert set(result["targets"]) >= {"ui_fps_median_ge_30", "tap_to_success_le_150ms"}

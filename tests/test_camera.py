"""Camera sources and reconnection, with real GStreamer processes, real video files and sockets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.hardware.camera import NO_CAMERA, STREAMING, Camera, transform
from app.hardware.camera_url import parse_camera_source
from app.hardware.sources import CameraLost, CameraUnavailable, FrameSource, GstProcessSource
from waiting import wait_for

needs_gst = pytest.mark.skipif(shutil.which("gst-launch-1.0") is None, reason="gst-launch-1.0 not installed")

# Targets of the hardware issue: unplug -> no-camera state within 2 s, replug -> frames within 5 s.
LOST_WITHIN_S = 2.0
BACK_WITHIN_S = 5.0


def collect(camera: Camera, seconds: float) -> list:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        item = camera.slot.get(timeout=0.5)
        if item is not None:
            out.append(item)
    return out


def write_clip(path: Path, frames: int = 20, fps: float = 10.0, size=(160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[:, : (i * size[0]) // frames] = (0, 200, 0)
        writer.write(img)
    writer.release()
    return path


@needs_gst
def test_gst_videotestsrc_delivers_bgr_frames_of_the_right_size_and_rate():
    # solid red (ARGB 0xffff0000) must arrive as BGR (0, 0, 255): checks byte order and framing
    url = "gst://videotestsrc is-live=true pattern=solid-color foreground-color=0xffff0000"
    spec = parse_camera_source(url, 320, 240, 25)
    spec_rate = parse_camera_source(
        "gst://videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=25/1", 320, 240, 25)
    with Camera(spec) as camera:
        items = collect(camera, 0.6)
        assert items, camera.status()
        frame = items[-1].frame
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
        assert np.all(frame == (0, 0, 255))
    with Camera(spec_rate) as camera:
        items = collect(camera, 2.0)
        status = camera.status()
    stamps = [i.ts for i in items]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 20 <= rate <= 30, rate
    assert 20 <= status.fps <= 30, status
    assert [i.seq for i in items] == sorted(i.seq for i in items)
    # the ball moves: consecutive frames differ
    assert not np.array_equal(items[0].frame, items[5].frame)


@needs_gst
def test_killed_gst_process_gives_no_camera_then_frames_again():
    spec = parse_camera_source("gst://videotestsrc is-live=true ! video/x-raw,framerate=30/1", 160, 120, 30)
    with Camera(spec) as camera:
        wait_for(lambda: camera.status().state == STREAMING, 5)
        pid = camera.source.pid
        os.kill(pid, signal.SIGKILL)  # a camera process dying as an unplugged camera would
        lost = wait_for(lambda: camera.status().state == NO_CAMERA, LOST_WITHIN_S)
        assert "exit -9" in camera.status().reason
        back = wait_for(lambda: camera.status().state == STREAMING, BACK_WITHIN_S)
        assert camera.source.pid != pid
        assert camera.slot.get(timeout=1) is not None
        assert camera.status().reconnects == 1
    print(f"gst killed: no camera after {lost:.2f} s, frames again after {lost + back:.2f} s")


@needs_gst
def test_hung_gst_process_counts_as_gone_and_is_restarted():
    spec = parse_camera_source("gst://videotestsrc is-live=true ! video/x-raw,framerate=30/1", 160, 120, 30)
    with Camera(spec, stall_s=0.5) as camera:
        wait_for(lambda: camera.status().state == STREAMING, 5)
        pid = camera.source.pid
        os.kill(pid, signal.SIGSTOP)  # alive but silent, like a wedged driver
        try:
            wait_for(lambda: camera.status().state == NO_CAMERA, LOST_WITHIN_S)
            wait_for(lambda: camera.status().state == STREAMING and camera.source and camera.source.pid != pid,
                     BACK_WITHIN_S)
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@needs_gst
def test_broken_gst_pipeline_reports_gstreamer_error():
    spec = parse_camera_source("gst://nosuchelement ! videoconvert", 160, 120, 30)
    with Camera(spec, backoff_s=(0.1, 0.2)) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, 5)
        assert "nosuchelement" in camera.status().reason
        time.sleep(0.5)
        assert camera.status().state == NO_CAMERA  # keeps trying, keeps saying why


def test_missing_gst_launch_is_a_clear_error():
    source = GstProcessSource("videotestsrc", 16, 16, launcher="no-such-gst-launch")
    with pytest.raises(CameraUnavailable, match="GStreamer is not installed"):
        source.open()


def test_file_source_loops_at_the_clip_rate(tmp_path):
    clip = write_clip(tmp_path / "clip.avi", frames=8, fps=10.0)
    with Camera(parse_camera_source(f"file://{clip}")) as camera:
        items = collect(camera, 1.5)
    assert items[0].frame.shape == (120, 160, 3)
    assert 12 <= len(items) <= 17  # 10 fps for 1.5 s, across the 8-frame loop
    stamps = [i.ts for i in items]
    assert 8.5 <= (len(stamps) - 1) / (stamps[-1] - stamps[0]) <= 11.5


def test_file_removed_and_restored_like_an_unplugged_camera(tmp_path):
    clip = write_clip(tmp_path / "clip.avi", frames=30, fps=20.0)
    spare = tmp_path / "spare.avi"
    shutil.copy(clip, spare)
    with Camera(parse_camera_source(f"file://{clip}")) as camera:
        wait_for(lambda: camera.status().state == STREAMING, 5)
        clip.unlink()
        lost = wait_for(lambda: camera.status().state == NO_CAMERA, LOST_WITHIN_S)
        time.sleep(1.0)
        assert camera.status().state == NO_CAMERA and "clip.avi" in camera.status().reason
        shutil.copy(spare, clip)
        back = wait_for(lambda: camera.status().state == STREAMING, BACK_WITHIN_S)
        assert camera.slot.get(timeout=1) is not None
    print(f"file removed: no camera after {lost:.2f} s; restored: frames after {back:.2f} s")


def test_test_source_moves_and_rotation_is_applied():
    spec = parse_camera_source("test://?width=200&height=100&fps=20", rotate=90)
    with Camera(spec) as camera:
        items = collect(camera, 0.5)
    assert items[0].frame.shape == (200, 100, 3)
    assert not np.array_equal(items[0].frame, items[-1].frame)


def test_test_source_with_a_picture(tmp_path):
    picture = np.zeros((50, 40, 3), np.uint8)
    picture[:] = (255, 0, 255)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), picture)
    with Camera(parse_camera_source(f"test://?width=320&height=240&image={path}")) as camera:
        frame = collect(camera, 0.3)[0].frame
    magenta = np.all(frame == (255, 0, 255), axis=2)
    assert magenta.sum() > 0.5 * (240 * 0.6) ** 2 * 0.8  # the scaled picture is in the scene


def test_transform_matches_numpy():
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert np.array_equal(transform(frame, 90, False), np.rot90(frame, -1))
    assert np.array_equal(transform(frame, 270, False), np.rot90(frame, 1))
    assert np.array_equal(transform(frame, 180, True), frame[::-1])
    assert np.array_equal(transform(frame, 0, True), frame[:, ::-1])


def test_unreachable_rtsp_is_no_camera_with_the_reason():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Camera(parse_camera_source(f"rtsp://127.0.0.1:{port}/live")) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, 10)
        assert f"127.0.0.1:{port}" in camera.status().reason


def test_missing_v4l2_device_and_none():
    with Camera(parse_camera_source("v4l2:///dev/video-does-not-exist")) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, 3)
        assert "does not exist" in camera.status().reason
    camera = Camera(parse_camera_source("none")).start()
    assert camera.status().state == NO_CAMERA
    assert camera.status().headline("zh_CN") == "未检测到摄像头"
    assert camera.status().headline("en") == "No camera"
    camera.stop()


@pytest.mark.skipif(any(Path("/dev").glob("video*")), reason="this machine has a video device")
def test_auto_without_any_camera_is_a_clear_no_camera_state():
    with Camera(parse_camera_source("auto")) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, 15)
        assert "no camera found" in camera.status().reason


class BlockingSource(FrameSource):
    """Delivers a few frames, then blocks in read() ignoring the timeout (as a wedged V4L2 read can)."""

    description = "blocking"

    def __init__(self, frames: int = 5) -> None:
        self.left = frames
        self.release = threading.Event()

    def open(self) -> None:
        pass

    def read(self, timeout: float):
        if self.left > 0:
            self.left -= 1
            time.sleep(0.02)
            return np.zeros((8, 8, 3), np.uint8)
        self.release.wait()
        raise CameraLost("read gave up")

    def interrupt(self) -> None:
        self.release.set()


def test_a_read_that_never_returns_still_shows_no_camera_in_time():
    made = []

    def factory(spec):
        made.append(BlockingSource())
        return made[-1]

    camera = Camera(parse_camera_source("test://"), stall_s=0.3, source_factory=factory).start()
    try:
        wait_for(lambda: camera.status().frames == 5, 3)
        lost = wait_for(lambda: camera.status().state == NO_CAMERA, LOST_WITHIN_S)
        assert lost <= 1.0 and "no frame for" in camera.status().reason
        made[0].release.set()  # the read finally returns: the camera opens a new source
        wait_for(lambda: len(made) == 2 and camera.status().frames > 5, BACK_WITHIN_S)
    finally:
        camera.stop()


def test_auto_tries_csi_then_each_v4l2_device(monkeypatch):
    import app.hardware.camera as camera_module

    monkeypatch.setattr(camera_module, "v4l2_devices", lambda: ["/dev/video-x3", "/dev/video-x7"])
    spec = parse_camera_source("auto", 640, 480, 15)
    names = [s.description for s in camera_module.auto_candidates(spec, csi_available=True)]
    assert names == ["csi://0", "v4l2:///dev/video-x3", "v4l2:///dev/video-x7"]
    assert [s.description for s in camera_module.auto_candidates(spec, csi_available=False)][0] == "v4l2:///dev/video-x3"


@needs_gst
def test_auto_reports_why_each_candidate_failed(monkeypatch):
    import app.hardware.camera as camera_module

    monkeypatch.setattr(camera_module, "v4l2_devices", lambda: ["/dev/video-x3"])
    monkeypatch.setattr(camera_module, "gst_element_exists", lambda name: True)  # pretend a Jetson
    with Camera(parse_camera_source("auto")) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, 10)
        reason = camera.status().reason
    assert "csi://0" in reason and "nvarguscamerasrc" in reason  # gst-launch: no such element here
    assert "/dev/video-x3 does not exist" in reason


class MjpegServer:
    """An HTTP MJPEG camera (multipart/x-mixed-replace, as IP cameras serve) on a local port.
    ``live.clear()`` unplugs it: streams end and new requests get 503."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        live = self.live = threading.Event()
        live.set()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if not live.is_set():
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while live.is_set():
                        ok, jpg = cv2.imencode(".jpg", np.full((120, 160, 3), (i * 7) % 256, np.uint8))
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpg) + jpg.tobytes() + b"\r\n")
                        i += 1
                        time.sleep(0.04)
                except OSError:  # the client went away
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.live.clear()
        self.server.shutdown()
        self.server.server_close()


def test_network_stream_dropped_and_restored():
    server = MjpegServer()
    try:
        with Camera(parse_camera_source(server.url)) as camera:
            items = collect(camera, 1.0)
            assert len(items) >= 15 and items[0].frame.shape == (120, 160, 3)
            server.live.clear()  # the IP camera goes away
            wait_for(lambda: camera.status().state == NO_CAMERA, LOST_WITHIN_S)
            time.sleep(1.0)
            assert camera.status().state == NO_CAMERA
            server.live.set()
            wait_for(lambda: camera.status().state == STREAMING, BACK_WITHIN_S)
            assert camera.slot.get(timeout=1) is not None and camera.status().reconnects >= 1
    finally:
        server.close()

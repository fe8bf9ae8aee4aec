"""Camera sources and reconnection, with real GStreamer processes, real video files and sockets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.hardware.camera import NO_CAMERA, STREAMING, Camera, transform
from app.hardware.frames import FrameSlot, SlotFrame
from app.hardware.camera_url import parse_camera_source
from app.hardware.sources import CameraLost, CameraUnavailable, FrameSource, GstProcessSource
from tests.helpers.waiting import wait_for

needs_gst = pytest.mark.skipif(shutil.which("gst-launch-1.0") is None, reason="gst-launch-1.0 not installed")

# Correctness deadlines, generous for a loaded CI machine: these tests check that a lost camera is
# noticed and recovered, not how fast. The hardware issue's targets (no camera within 2 s, frames again
# within 5 s) are measured by `daka hw bench` (camera_recovery), which reports the figures beside them.
DEADLINE_S = 60.0


def collect(camera: Camera, count: int, timeout: float = DEADLINE_S) -> list:
    """The next ``count`` frames the test takes from the slot (a slow test thread skips some)."""
    out, end = [], time.monotonic() + timeout
    while len(out) < count:
        if time.monotonic() > end:
            pytest.fail(f"only {len(out)} of {count} frames within {timeout} s: {camera.status()}")
        item = camera.slot.get(timeout=0.5)
        if item is not None:
            out.append(item)
    return out


class RecordingSlot(FrameSlot):
    """A frame slot that also keeps every frame put into it: the capture side's own record, which a
    slow test thread taking frames cannot thin out."""

    def __init__(self) -> None:
        super().__init__()
        self.record: list[SlotFrame] = []

    def put(self, frame, ts=None) -> int:
        seq = super().put(frame, ts)
        self.record.append(self.latest())
        return seq

    def wait_for_frames(self, count: int, timeout: float = DEADLINE_S) -> list[SlotFrame]:
        wait_for(lambda: len(self.record) >= count, timeout)
        return self.record[:count]


def consecutive_intervals(record: list[SlotFrame]) -> list[float]:
    return [b.ts - a.ts for a, b in zip(record, record[1:])]


def wait_for_status(camera: Camera, state: str):
    """The camera's status once it is in ``state`` (the status is computed when asked)."""
    seen = []
    wait_for(lambda: seen.append(camera.status()) or seen[-1].state == state, DEADLINE_S)
    return seen[-1]


def streaming_pid(camera: Camera) -> int:
    """The pid of the gst-launch process the camera streams from (read once: the source is replaced
    on a reconnect, which a loaded machine can cause at any moment)."""
    def pid() -> int | None:
        source = camera.source
        return source.pid if source is not None and camera.status().state == STREAMING else None

    found: list[int | None] = []
    wait_for(lambda: found.append(pid()) or found[-1] is not None, DEADLINE_S)
    return found[-1]


@pytest.fixture
def camera_warnings():
    """The camera's warnings (each no-camera state with its reason), as logged."""
    from loguru import logger

    messages: list[str] = []
    handler = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING", format="{message}")
    yield messages
    logger.remove(handler)


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
        frame = collect(camera, 1)[0].frame
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
        assert np.all(frame == (0, 0, 255))
    slot = RecordingSlot()
    started = time.monotonic()
    with Camera(spec_rate, slot) as camera:
        taken = collect(camera, 6)
        record = slot.wait_for_frames(50)
        status = wait_for_status(camera, STREAMING)
    # Not faster than 25 fps: a live source stamps its frame k at (k - 1) / 25 s of the pipeline's
    # running time, and the pipeline started after `started`; load can only make frames later.
    last = record[-1]
    assert last.ts - started >= 0.95 * (last.seq - 1) / 25, (last.ts - started, last.seq)
    # Not slower: the typical interval between captured frames; a median, so that the rare frame a
    # loaded machine delays does not count. (The capture rate itself is measured by `daka hw bench`.)
    assert statistics.median(consecutive_intervals(record)) <= 1 / 20, consecutive_intervals(record)
    assert 5 <= status.fps <= 30, status  # the status's rate: a mean, so only a loose lower bound
    assert [i.seq for i in record] == list(range(1, 51))
    assert [i.seq for i in taken] == sorted(set(i.seq for i in taken))
    # the ball moves: frames differ
    assert not np.array_equal(record[0].frame, record[5].frame)


@needs_gst
def test_killed_gst_process_gives_no_camera_then_frames_again(camera_warnings):
    spec = parse_camera_source("gst://videotestsrc is-live=true ! video/x-raw,framerate=30/1", 160, 120, 30)
    with Camera(spec) as camera:
        pid = streaming_pid(camera)
        killed = camera.status().frames
        os.kill(pid, signal.SIGKILL)  # a camera process dying as an unplugged camera would
        # The no-camera state can be short (a new process is started after 0.25 s): the log records it
        # whether or not a loaded test thread polls the status in that window.
        lost = wait_for(lambda: any("exit -9" in m for m in camera_warnings), DEADLINE_S)
        assert any(m.startswith("camera: no camera") and "GStreamer pipeline ended (exit -9)" in m
                   for m in camera_warnings), camera_warnings
        back = wait_for(lambda: camera.status().state == STREAMING and camera.status().reconnects >= 1, DEADLINE_S)
        assert camera.source.pid != pid
        assert collect(camera, 1)[0].seq > killed
    print(f"gst killed: no camera after {lost:.2f} s, frames again after {lost + back:.2f} s")


@needs_gst
def test_hung_gst_process_counts_as_gone_and_is_restarted():
    spec = parse_camera_source("gst://videotestsrc is-live=true ! video/x-raw,framerate=30/1", 160, 120, 30)
    with Camera(spec, stall_s=0.5) as camera:
        pid = streaming_pid(camera)
        os.kill(pid, signal.SIGSTOP)  # alive but silent, like a wedged driver
        try:
            # no camera from the stall until the replacement streams (>= 1.75 s: stall, close, backoff)
            wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
            wait_for(lambda: camera.status().state == STREAMING and camera.source and camera.source.pid != pid,
                     DEADLINE_S)
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@needs_gst
def test_broken_gst_pipeline_reports_gstreamer_error():
    spec = parse_camera_source("gst://nosuchelement ! videoconvert", 160, 120, 30)
    with Camera(spec, backoff_s=(0.1, 0.2)) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
        assert "nosuchelement" in camera.status().reason
        time.sleep(0.5)  # load can only make fewer retries happen meanwhile; none can succeed
        assert camera.status().state == NO_CAMERA  # keeps trying, keeps saying why


@needs_gst
def test_a_late_stderr_reader_still_gives_gstreamer_s_words():
    """On a loaded machine the thread reading gst-launch's stderr may run late: the reason must not
    depend on it having read the error message within some fixed time."""

    class LateReader(GstProcessSource):
        def _drain_stderr(self, proc):
            time.sleep(0.5)
            super()._drain_stderr(proc)

    source = LateReader("nosuchelement ! videoconvert", 16, 16)
    source.open()
    try:
        with pytest.raises(CameraLost) as lost:
            source.read(DEADLINE_S)
    finally:
        source.close()
    assert "GStreamer pipeline ended (exit 1)" in str(lost.value)
    assert "nosuchelement" in str(lost.value)


def test_missing_gst_launch_is_a_clear_error():
    source = GstProcessSource("videotestsrc", 16, 16, launcher="no-such-gst-launch")
    with pytest.raises(CameraUnavailable, match="GStreamer is not installed"):
        source.open()


def test_file_source_loops_at_the_clip_rate(tmp_path):
    clip = write_clip(tmp_path / "clip.avi", frames=8, fps=10.0)
    slot = RecordingSlot()
    started = time.monotonic()
    with Camera(parse_camera_source(f"file://{clip}"), slot):
        record = slot.wait_for_frames(17)  # the 8-frame clip twice, and one more
    assert record[0].frame.shape == (120, 160, 3)
    # it loops: frame k + 8 is frame k again (each frame of the clip is different)
    assert all(np.array_equal(record[k].frame, record[k + 8].frame) for k in range(9))
    assert not np.array_equal(record[0].frame, record[1].frame)
    # Paced at the clip's 10 fps, not as fast as the file can be read: frame k is due (k - 1) / 10 s
    # after the file was opened, and load can only make it later.
    assert record[-1].ts - started >= 0.95 * 16 / 10, record[-1].ts - started
    # and not slower: the typical interval (a median: a delayed frame is followed by a short one)
    assert 0.08 <= statistics.median(consecutive_intervals(record)) <= 0.125, consecutive_intervals(record)


def test_file_removed_and_restored_like_an_unplugged_camera(tmp_path):
    clip = write_clip(tmp_path / "clip.avi", frames=30, fps=20.0)
    spare = tmp_path / "spare.avi"
    shutil.copy(clip, spare)
    with Camera(parse_camera_source(f"file://{clip}")) as camera:
        wait_for(lambda: camera.status().state == STREAMING, DEADLINE_S)
        clip.unlink()
        lost = wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
        # the reason names the file once the capture thread tried to open it again
        wait_for(lambda: "clip.avi" in camera.status().reason, DEADLINE_S)
        time.sleep(1.0)  # it keeps trying and keeps saying why: nothing can bring it back meanwhile
        assert camera.status().state == NO_CAMERA and "clip.avi" in camera.status().reason
        shutil.copy(spare, clip)
        back = wait_for(lambda: camera.status().state == STREAMING, DEADLINE_S)
        assert collect(camera, 1)
    print(f"file removed: no camera after {lost:.2f} s; restored: frames after {back:.2f} s")


def test_test_source_moves_and_rotation_is_applied():
    spec = parse_camera_source("test://?width=200&height=100&fps=20", rotate=90)
    with Camera(spec) as camera:
        items = collect(camera, 3)
    assert items[0].frame.shape == (200, 100, 3)
    assert not np.array_equal(items[0].frame, items[-1].frame)


def test_test_source_with_a_picture(tmp_path):
    picture = np.zeros((50, 40, 3), np.uint8)
    picture[:] = (255, 0, 255)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), picture)
    with Camera(parse_camera_source(f"test://?width=320&height=240&image={path}")) as camera:
        frame = collect(camera, 1)[0].frame
    magenta = np.all(frame == (255, 0, 255), axis=2)
    assert magenta.sum() > 0.5 * (240 * 0.6) ** 2 * 0.8  # the scaled picture is in the scene


@pytest.mark.parametrize("drift, moved", [(1.0, 14), (0.2, 3), (0.0, 0)])
def test_the_pictures_drift_scales_its_speed(tmp_path, drift, moved):
    from app.hardware.sources import SyntheticSource

    picture = np.zeros((50, 40, 3), np.uint8)
    picture[:] = (255, 0, 255)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), picture)
    source = SyntheticSource(parse_camera_source(f"test://?width=320&height=240&fps=10&image={path}&drift={drift}"))
    source.open()

    def left(n):
        return int(np.flatnonzero(np.all(source.frame_at(n) == (255, 0, 255), axis=2).any(axis=0))[0])

    # 0.2 s of scene from the middle: the 115 px wide picture's left edge moves (320 - 115) * 0.5 * sin(0.7 * 0.2 * drift)
    assert left(2) - left(0) == moved
    assert not np.array_equal(source.frame_at(0), source.frame_at(2))   # the ball and counter move on


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
        wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
        assert f"127.0.0.1:{port}" in camera.status().reason


def test_missing_v4l2_device_and_none():
    with Camera(parse_camera_source("v4l2:///dev/video-does-not-exist")) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
        assert "does not exist" in camera.status().reason
    camera = Camera(parse_camera_source("none")).start()
    assert camera.status().state == NO_CAMERA
    assert camera.status().headline("zh_CN") == "未检测到摄像头"
    assert camera.status().headline("en") == "No camera"
    camera.stop()


@pytest.mark.skipif(any(Path("/dev").glob("video*")), reason="this machine has a video device")
def test_auto_without_any_camera_is_a_clear_no_camera_state():
    with Camera(parse_camera_source("auto")) as camera:
        wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
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
        wait_for(lambda: camera.status().frames == 5, DEADLINE_S)
        # The read stays blocked until the test releases it, so only the age of the last frame can
        # make the status say "no camera": it must, without waiting for the read. (How soon is a
        # target measured by `daka hw bench`; here the deadline is generous.)
        wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
        assert "no frame for" in camera.status().reason
        assert len(made) == 1 and not made[0].release.is_set() and camera.status().frames == 5
        made[0].release.set()  # the read finally returns: the camera opens a new source
        wait_for(lambda: len(made) == 2 and camera.status().frames > 5, DEADLINE_S)
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
        wait_for(lambda: camera.status().state == NO_CAMERA and "/dev/video-x3" in camera.status().reason,
                 DEADLINE_S)
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
            items = collect(camera, 15)
            assert items[0].frame.shape == (120, 160, 3)
            assert len({int(i.frame[0, 0, 0]) for i in items}) > 1  # a stream, not one picture
            server.live.clear()  # the IP camera goes away
            wait_for(lambda: camera.status().state == NO_CAMERA, DEADLINE_S)
            time.sleep(1.0)  # the server refuses every request meanwhile: nothing can bring it back
            assert camera.status().state == NO_CAMERA
            server.live.set()
            wait_for(lambda: camera.status().state == STREAMING and camera.status().reconnects >= 1, DEADLINE_S)
            assert collect(camera, 1)
    finally:
        server.close()

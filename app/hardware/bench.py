"""``daka hw bench``: how fast the hardware layer notices a lost camera and recovers, what the
GStreamer pipe delivers, and how regular the distance readings are. JSON, with the issue's targets
(and, for the pipe, GStreamer's own rate without the pipe) measured beside each figure."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from app.hardware.camera import NO_CAMERA, STREAMING, Camera
from app.hardware.camera_url import parse_camera_source
from app.hardware.sources import GstProcessSource
from app.hardware.tof200f import Tof200fSensor
from app.hardware.tof_sim import Tof200fSimulator

TARGETS = {"lost_s": 2.0, "back_s": 5.0, "tof_interval_ms": 100.0}


def _wait(predicate, timeout: float) -> float | None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.005)
    return time.monotonic() - t0


def _summary(values: list[float | None]) -> dict:
    done = [v for v in values if v is not None]
    return {"median": round(statistics.median(done), 3) if done else None,
            "max": round(max(done), 3) if done else None, "missed": len(values) - len(done), "n": len(values)}


def camera_recovery(repeat: int) -> dict:
    out = {}
    if shutil.which("gst-launch-1.0"):
        spec = parse_camera_source("gst://videotestsrc is-live=true ! video/x-raw,framerate=30/1", 640, 480, 30)
        lost, back = [], []
        with Camera(spec) as camera:
            _wait(lambda: camera.status().state == STREAMING, 10)
            for _ in range(repeat):
                t0 = time.monotonic()
                os.kill(camera.source.pid, signal.SIGKILL)
                lost.append(_wait(lambda: camera.status().state == NO_CAMERA, 10))
                back.append(_wait(lambda: camera.status().state == STREAMING, 20) and time.monotonic() - t0)
                time.sleep(0.3)
        out["gst_process_killed"] = {"lost_s": _summary(lost), "back_s": _summary(back)}
    with tempfile.TemporaryDirectory() as tmp:
        clip, spare = Path(tmp) / "clip.avi", Path(tmp) / "spare.avi"
        writer = cv2.VideoWriter(str(spare), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
        for i in range(50):
            writer.write(np.full((240, 320, 3), i * 5, np.uint8))
        writer.release()
        shutil.copy(spare, clip)
        lost, back = [], []
        with Camera(parse_camera_source(f"file://{clip}")) as camera:
            _wait(lambda: camera.status().state == STREAMING, 10)
            for _ in range(repeat):
                clip.unlink()
                lost.append(_wait(lambda: camera.status().state == NO_CAMERA, 10))
                time.sleep(1.0)  # stays unplugged for a while
                shutil.copy(spare, clip)
                back.append(_wait(lambda: camera.status().state == STREAMING, 20))
                time.sleep(0.3)
        out["file_removed_and_restored"] = {"lost_s": _summary(lost), "back_after_restore_s": _summary(back)}
    return out


def gst_pipe_throughput() -> dict | None:
    """Frames/s through the gst-launch pipe (1280x720 BGR, as fast as possible) against
    gst-launch alone producing the same frames into fakesink."""
    if not shutil.which("gst-launch-1.0"):
        return None
    caps = "videotestsrc pattern=ball ! video/x-raw,width=1280,height=720,format=BGR"
    n = 300
    baseline_cmd = ["gst-launch-1.0", "-q", "videotestsrc", f"num-buffers={n}", "pattern=ball", "!",
                    "video/x-raw,width=1280,height=720,format=BGR", "!", "fakesink", "sync=false"]
    t0 = time.monotonic()
    subprocess.run(baseline_cmd, check=True, capture_output=True, timeout=120)
    baseline_fps = n / (time.monotonic() - t0)
    source = GstProcessSource(caps.replace("videotestsrc", f"videotestsrc num-buffers={n}"), 1280, 720)
    source.open()
    got = 0
    t0 = time.monotonic()
    try:
        while True:
            try:
                if source.read(5.0) is None:
                    break
            except Exception:
                break
            got += 1
    finally:
        elapsed = time.monotonic() - t0
        source.close()
    pipe_fps = got / elapsed
    # the leaky queue drops what the reader cannot take: delivered <= produced
    return {"frame": "1280x720 BGR", "produced": n, "delivered": got, "pipe_fps": round(pipe_fps, 1),
            "baseline_gst_fakesink_fps": round(baseline_fps, 1),
            "ratio": round(pipe_fps / baseline_fps, 2)}


def live_capture_rate(seconds: float = 3.0) -> dict | None:
    if not shutil.which("gst-launch-1.0"):
        return None
    spec = parse_camera_source("gst://videotestsrc is-live=true ! video/x-raw,framerate=30/1", 1280, 720, 30)
    with Camera(spec) as camera:
        camera.slot.get(timeout=10)
        time.sleep(seconds)
        status = camera.status()
    return {"configured_fps": 30, "measured_fps": round(status.fps, 2), "frame": "1280x720"}


def tof_intervals(seconds: float = 3.0) -> dict:
    with Tof200fSimulator() as sim, Tof200fSensor(sim.port, poll_hz=20) as sensor:
        time.sleep(seconds)
        stamps = [r.ts for r in sensor.history]
    gaps = sorted(1000 * (b - a) for a, b in zip(stamps, stamps[1:]))
    return {"poll_hz": 20, "readings": len(stamps), "median_ms": round(statistics.median(gaps), 1),
            "p95_ms": round(gaps[int(0.95 * (len(gaps) - 1))], 1), "max_ms": round(gaps[-1], 1)}


def run(repeat: int = 5) -> dict:
    return {
        "targets": TARGETS,
        "camera_recovery": camera_recovery(repeat),
        "gst_pipe_throughput": gst_pipe_throughput(),
        "live_capture_rate": live_capture_rate(),
        "tof_reading_intervals": tof_intervals(),
    }

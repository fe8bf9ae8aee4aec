"""The camera: a capture thread that keeps a source open, reconnects with backoff when it goes away,
and puts timestamped frames into a :class:`FrameSlot`.

States: ``starting`` → ``streaming`` ↔ ``no_camera`` → ``stopped``. A source that delivers nothing for
``stall_s`` counts as gone even while a read is still blocked (the status is computed from the age
of the last frame), so the screen can say "no camera" quickly whatever the backend does.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from loguru import logger

from app.hardware.camera_url import CameraSpec, parse_camera_source
from app.hardware.frames import FrameSlot
from app.hardware.sources import (
    CameraLost,
    CameraUnavailable,
    FrameSource,
    OpenCvSource,
    csi_source,
    gst_element_exists,
    make_source,
    v4l2_devices,
)
from app.i18n import text

STARTING, STREAMING, NO_CAMERA, STOPPED = "starting", "streaming", "no_camera", "stopped"

@dataclass(frozen=True)
class CameraStatus:
    state: str
    source: str  # the source in use or last tried
    reason: str  # why there is no camera ("" when streaming)
    fps: float  # measured capture rate over the last frames
    frames: int  # frames captured since start
    reconnects: int  # sources opened after the first
    last_frame_age: float | None  # seconds since the last frame

    def headline(self, language: str = "zh_CN") -> str:
        return text(f"camera.{self.state}", language)  # camera.starting / streaming / no_camera / stopped

    def as_dict(self) -> dict:
        return {**self.__dict__, "fps": round(self.fps, 2)}


class FpsMeter:
    """Frames per second over the last ``window`` frame timestamps."""

    def __init__(self, window: int = 60) -> None:
        self._stamps: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self, ts: float) -> None:
        self._stamps.append(ts)

    def reset(self) -> None:
        self._stamps.clear()

    @property
    def fps(self) -> float:
        if len(self._stamps) < 2:
            return 0.0
        span = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / span if span > 0 else 0.0


def transform(frame: np.ndarray, rotate: int, flip: bool) -> np.ndarray:
    """Rotate clockwise by ``rotate`` degrees, then mirror horizontally if ``flip``."""
    import cv2

    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    if rotate % 360:
        frame = cv2.rotate(frame, codes[rotate % 360])
    if flip:
        frame = cv2.flip(frame, 1)
    return frame


def auto_candidates(spec: CameraSpec, csi_available: bool) -> Iterator[FrameSource]:
    """``auto``: the CSI camera when Argus is there, then each V4L2 device."""
    if csi_available:
        yield csi_source(CameraSpec("csi", "0", spec.width, spec.height, spec.fps, spec.rotate, spec.flip))
    for device in v4l2_devices():
        yield OpenCvSource(CameraSpec("v4l2", device, spec.width, spec.height, spec.fps, spec.rotate, spec.flip))


class Camera:
    """Capture thread with reconnection. ``slot`` receives (frame, monotonic timestamp)."""

    def __init__(
        self,
        spec: CameraSpec | str,
        slot: FrameSlot | None = None,
        *,
        stall_s: float = 1.0,
        first_frame_s: float = 4.0,
        backoff_s: tuple[float, float] = (0.25, 2.0),
        source_factory: Callable[[CameraSpec], FrameSource] = make_source,
    ) -> None:
        self.spec = parse_camera_source(spec) if isinstance(spec, str) else spec
        self.slot = slot or FrameSlot()
        self.stall_s = stall_s
        self.first_frame_s = first_frame_s
        self.backoff_min, self.backoff_max = backoff_s
        self._source_factory = source_factory
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = STARTING if self.spec.scheme != "none" else NO_CAMERA
        self._reason = "camera disabled (source = none)" if self.spec.scheme == "none" else ""
        self._source_name = self.spec.url
        self._last_ts: float | None = None
        self._frames = 0
        self._opened = 0
        self._fps = FpsMeter()
        self._csi_available: bool | None = None
        self.source: FrameSource | None = None  # the open source (for tests and diagnostics)
        self._soft_transform = False

    # -- control ---------------------------------------------------------------------------

    def start(self) -> "Camera":
        if self.spec.scheme == "none" or self._thread is not None:
            return self
        self._stop.clear()
        self.slot.reopen()
        self._thread = threading.Thread(target=self._run, daemon=True, name="camera")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        source = self.source
        if source is not None:
            source.interrupt()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._lock:
            self._state = STOPPED
        self.slot.close()

    def __enter__(self) -> "Camera":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- status ------------------------------------------------------------------------------

    def status(self) -> CameraStatus:
        now = time.monotonic()
        with self._lock:
            state, reason = self._state, self._reason
            age = None if self._last_ts is None else now - self._last_ts
            if state == STREAMING and age is not None and age > self.stall_s:
                state, reason = NO_CAMERA, f"no frame for {age:.1f} s"
            fps = self._fps.fps if state == STREAMING else 0.0
            return CameraStatus(state, self._source_name, reason, fps, self._frames,
                                max(0, self._opened - 1), age)

    def _set(self, state: str, reason: str = "", source: str | None = None) -> None:
        with self._lock:
            changed = state != self._state or reason != self._reason
            self._state, self._reason = state, reason
            if source is not None:
                self._source_name = source
        if changed and state == NO_CAMERA:
            logger.warning("camera: no camera ({}): {}", self._source_name, reason)
        elif changed and state == STREAMING:
            logger.info("camera: streaming from {}", self._source_name)

    # -- capture thread ----------------------------------------------------------------------

    def _candidates(self) -> Iterator[FrameSource]:
        if self.spec.scheme != "auto":
            yield self._source_factory(self.spec)
            return
        if self._csi_available is None:
            self._csi_available = gst_element_exists("nvarguscamerasrc")
        yield from auto_candidates(self.spec, self._csi_available)

    def _open_one(self) -> tuple[FrameSource, np.ndarray] | None:
        """Open the first candidate that delivers a frame; None (state no_camera) if none does."""
        reasons = []
        for source in self._candidates():
            if self._stop.is_set():
                return None
            try:
                source.open()
                frame = source.read(self.first_frame_s)
                if frame is None:
                    raise CameraLost(f"no frame within {self.first_frame_s:.0f} s")
                return source, frame
            except (CameraUnavailable, CameraLost) as exc:
                reasons.append(f"{source.description}: {exc}")
                source.close()
            except Exception as exc:  # a backend bug must not kill the capture thread
                logger.exception("camera: {} failed to open", source.description)
                reasons.append(f"{source.description}: {exc!r}")
                source.close()
        if not reasons:
            reasons.append("no camera found (no CSI camera, no /dev/video*)")
        self._set(NO_CAMERA, "; ".join(reasons))
        return None

    def _run(self) -> None:
        backoff = self.backoff_min
        while not self._stop.is_set():
            opened = self._open_one()
            if opened is None:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            source, frame = opened
            self.source = source
            self._soft_transform = bool(self.spec.rotate % 360 or self.spec.flip) and not source.hardware_transform
            with self._lock:
                self._opened += 1
            self._fps.reset()
            self._set(STREAMING, "", source.description)
            backoff = self.backoff_min
            try:
                while not self._stop.is_set():
                    self._deliver(frame)
                    frame = source.read(self.stall_s)
                    if frame is None:
                        raise CameraLost(f"no frame for {self.stall_s:.1f} s")
                    if not source.present():
                        raise CameraLost("device disappeared")
            except CameraLost as exc:
                if not self._stop.is_set():
                    self._set(NO_CAMERA, str(exc))
            except Exception as exc:
                logger.exception("camera: capture from {} failed", source.description)
                self._set(NO_CAMERA, repr(exc))
            finally:
                source.close()
                self.source = None
            self._stop.wait(self.backoff_min)

    def _deliver(self, frame: np.ndarray) -> None:
        ts = time.monotonic()
        if self._soft_transform:
            frame = transform(frame, self.spec.rotate, self.spec.flip)
        self.slot.put(frame, ts)
        with self._lock:
            self._last_ts = ts
            self._frames += 1
            self._fps.tick(ts)


def camera_from_config(camera_cfg, source: str | None = None, slot: FrameSlot | None = None) -> Camera:
    """A :class:`Camera` for the [camera] section (``source`` overrides ``camera.source``)."""
    spec = parse_camera_source(
        source or camera_cfg.source, camera_cfg.width, camera_cfg.height, camera_cfg.fps,
        camera_cfg.rotate, camera_cfg.flip)
    return Camera(spec, slot)

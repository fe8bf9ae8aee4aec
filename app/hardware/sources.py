"""Frame sources behind one small interface: ``open()``, ``read(timeout)``, ``present()``, ``close()``.

``read`` returns a BGR frame, or None when no frame came within ``timeout``; it raises
:class:`CameraLost` when the source ended or failed. ``open`` raises :class:`CameraUnavailable`.
"""

from __future__ import annotations

import collections
import math
import os
import select
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from app.hardware.camera_url import CameraSpec, bgr_tail, csi_output_size, csi_pipeline, strip_sink

GST_LAUNCH = "gst-launch-1.0"


class CameraUnavailable(Exception):
    """The source could not be opened (reason in the message)."""


class CameraLost(Exception):
    """An open source stopped delivering (unplugged, process died, end of stream)."""


class FrameSource:
    """Base class: a source that delivers BGR frames."""

    description = "camera"
    #: True when the source rotates/mirrors itself (the CSI pipeline does it in nvvidconv).
    hardware_transform = False

    def open(self) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> np.ndarray | None:
        raise NotImplementedError

    def present(self) -> bool:
        """Cheap check that the device still exists (a path-based source whose node vanished)."""
        return True

    def interrupt(self) -> None:
        """Make a blocked ``read`` return soon (from another thread); closing stays with the reader."""

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


# --------------------------------------------------------------------------
# GStreamer through a gst-launch-1.0 subprocess writing raw BGR to its stdout
# --------------------------------------------------------------------------


class GstProcessSource(FrameSource):
    """Runs ``gst-launch-1.0 -q <pipeline> ! fdsink`` and reads frames of a known size from the pipe.

    Needs no OpenCV built with GStreamer and no PyGObject. The pipeline must end in
    ``video/x-raw,format=BGR`` of ``width`` x ``height``; a leaky one-buffer queue in front of the
    sink drops frames rather than letting them pile up when the reader is slow.
    """

    def __init__(self, pipeline: str, width: int, height: int, description: str | None = None,
                 launcher: str = GST_LAUNCH) -> None:
        self.pipeline = pipeline
        self.width, self.height = width, height
        self.description = description or f"gst://{pipeline}"
        self.launcher = launcher
        self.frame_bytes = width * height * 3
        self._proc: subprocess.Popen | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=12)
        self._stderr_reader: threading.Thread | None = None

    def command(self) -> list[str]:
        tail = ["!", "queue", "max-size-buffers=1", "leaky=downstream", "!", "fdsink", "fd=1", "sync=false"]
        return [self.launcher, "-q", *shlex.split(self.pipeline), *tail]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def open(self) -> None:
        if shutil.which(self.launcher) is None:
            raise CameraUnavailable(
                f"GStreamer is not installed ({self.launcher} not found; "
                "apt install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)")
        self._stderr_tail.clear()
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        try:  # fewer, larger reads; not essential
            import fcntl

            fcntl.fcntl(self._proc.stdout.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
        except OSError:
            pass
        self._stderr_reader = threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True,
                                               name="gst-stderr")
        self._stderr_reader.start()

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        with proc.stderr:
            for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    self._stderr_tail.append(line)

    def _failure(self, what: str) -> str:
        # The pipeline ended: let the stderr reader take the last words (its EOF comes as the process
        # exits), however late a loaded machine runs it; bounded, should a grandchild hold the pipe.
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=5.0)
        detail = " | ".join(self._stderr_tail)
        rc = None
        if self._proc is not None:
            try:  # its exit status too: stdout ended because the process is exiting
                rc = self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
        status = f" (exit {rc})" if rc is not None else ""
        return f"{what}{status}" + (f": {detail}" if detail else "")

    def read(self, timeout: float) -> np.ndarray | None:
        proc = self._proc
        if proc is None:
            raise CameraLost("not open")
        fd = proc.stdout.fileno()
        frame = np.empty((self.height, self.width, 3), np.uint8)
        view = memoryview(frame).cast("B")
        got = 0
        deadline = time.monotonic() + timeout
        while got < self.frame_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if got == 0:
                    return None
                raise CameraLost(f"frame cut short ({got} of {self.frame_bytes} bytes)")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            n = os.readv(fd, [view[got:]])
            if n == 0:
                raise CameraLost(self._failure("GStreamer pipeline ended"))
            got += n
        return frame

    def interrupt(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=1.0)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=2.0)
        else:
            proc.wait()
        proc.stdout.close()


def csi_source(spec: CameraSpec) -> GstProcessSource:
    width, height = csi_output_size(spec)
    source = GstProcessSource(csi_pipeline(spec), width, height, description=spec.url)
    source.hardware_transform = True
    return source


def gst_source(spec: CameraSpec) -> GstProcessSource:
    pipeline = f"{strip_sink(spec.target)} ! {bgr_tail(spec.width, spec.height)}"
    return GstProcessSource(pipeline, spec.width, spec.height, description=spec.url)


def gst_element_exists(name: str) -> bool:
    """True if GStreamer has the element ``name`` (e.g. nvarguscamerasrc on a Jetson)."""
    inspect = shutil.which("gst-inspect-1.0")
    if inspect is None:
        return False
    try:
        return subprocess.run([inspect, "--exists", name], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# --------------------------------------------------------------------------
# OpenCV VideoCapture: V4L2 devices, video files, network streams
# --------------------------------------------------------------------------


class OpenCvSource(FrameSource):
    """V4L2 (``v4l2://``), files (``file://``, looping at the file's own pace) and streams (FFmpeg)."""

    def __init__(self, spec: CameraSpec, open_timeout_s: float = 4.0, read_timeout_s: float = 1.5) -> None:
        self.spec = spec
        self.description = spec.url
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._cap = None
        self._period = 0.0
        self._next_due = 0.0

    def _capture(self):
        import cv2

        spec = self.spec
        if spec.scheme == "v4l2":
            cap = cv2.VideoCapture(spec.target, cv2.CAP_V4L2)
            if cap.isOpened():
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, spec.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, spec.height)
                cap.set(cv2.CAP_PROP_FPS, spec.fps)
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            return cap
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)]
        return cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)

    def open(self) -> None:
        import cv2

        spec = self.spec
        if spec.scheme in ("v4l2", "file") and not os.path.exists(spec.target):
            raise CameraUnavailable(f"{spec.target} does not exist")
        cap = self._capture()
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailable(f"cannot open {spec.url}")
        self._cap = cap
        if spec.scheme == "file":
            fps = cap.get(cv2.CAP_PROP_FPS)
            fps = fps if 0 < fps < 1000 and not math.isnan(fps) else spec.fps
            self._period = 1.0 / fps
        self._next_due = time.monotonic()

    def read(self, timeout: float) -> np.ndarray | None:
        import cv2

        if self._cap is None:
            raise CameraLost("not open")
        ok, frame = self._cap.read()
        if not ok and self.spec.scheme == "file" and self.spec.loop:
            self._cap.release()
            self._cap = None
            due = self._next_due
            try:
                self.open()  # from the start; fails if the file is gone
                self._next_due = due  # keep the pace across the loop
            except CameraUnavailable as exc:
                raise CameraLost(str(exc)) from None
            ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraLost(f"{self.spec.url}: no more frames")
        if self._period:  # real-time pacing of a file
            now = time.monotonic()
            if self._next_due > now:
                time.sleep(self._next_due - now)
            self._next_due = max(self._next_due + self._period, time.monotonic() - self._period)
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return frame

    def present(self) -> bool:
        if self.spec.scheme in ("v4l2", "file"):
            return os.path.exists(self.spec.target)
        return True

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def v4l2_devices() -> list[str]:
    """Video device nodes, in number order."""
    nodes = Path("/dev").glob("video*")
    return sorted((str(p) for p in nodes if p.name[5:].isdigit()), key=lambda s: int(s[10:]))


# --------------------------------------------------------------------------
# Synthetic moving scene
# --------------------------------------------------------------------------


class SyntheticSource(FrameSource):
    """A moving scene drawn in numpy at the configured size and rate: a gradient, a ball that
    bounces, a frame counter, and optionally a picture (e.g. a face photo) drifting across at
    `drift` times its usual sway (0: it stays in the middle while the ball moves on)."""

    def __init__(self, spec: CameraSpec) -> None:
        self.spec = spec
        self.description = "test://" + (f"?image={spec.image}" if spec.image else "")
        self._n = 0
        self._t0 = 0.0
        self._picture: np.ndarray | None = None
        self._background: np.ndarray | None = None

    def open(self) -> None:
        import cv2

        w, h = self.spec.width, self.spec.height
        if self.spec.image:
            picture = cv2.imread(self.spec.image, cv2.IMREAD_COLOR)
            if picture is None:
                raise CameraUnavailable(f"test://: cannot read image {self.spec.image}")
            scale = min(0.6 * h / picture.shape[0], 0.6 * w / picture.shape[1])
            self._picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x = np.linspace(40, 200, w, dtype=np.float32)
        y = np.linspace(0, 80, h, dtype=np.float32)[:, None]
        bg = np.empty((h, w, 3), np.uint8)
        bg[..., 0] = (x + y).clip(0, 255)
        bg[..., 1] = (120 + y).clip(0, 255)
        bg[..., 2] = (240 - x * 0.5).clip(0, 255)
        self._background = bg
        self._n = 0
        self._t0 = time.monotonic()

    def read(self, timeout: float) -> np.ndarray | None:
        if self._background is None:
            raise CameraLost("not open")
        due = self._t0 + self._n / self.spec.fps
        wait = due - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return None
        if wait > 0:
            time.sleep(wait)
        frame = self.frame_at(self._n)
        self._n += 1
        return frame

    def frame_at(self, n: int) -> np.ndarray:
        """Frame number `n` of the scene (`read` paces them at the rate; tests may pick any)."""
        import cv2

        if self._background is None:
            raise CameraLost("not open")
        t = n / self.spec.fps
        frame = self._background.copy()
        h, w = frame.shape[:2]
        if self._picture is not None:
            ph, pw = self._picture.shape[:2]
            d = t * self.spec.drift
            px = int((w - pw) * (0.5 + 0.5 * math.sin(d * 0.7)))
            py = int((h - ph) * (0.5 + 0.3 * math.sin(d * 0.45)))
            frame[py:py + ph, px:px + pw] = self._picture
        r = max(8, h // 12)
        cx = int(r + (w - 2 * r) * abs(((t * 0.35) % 2) - 1))
        cy = int(r + (h - 2 * r) * abs(((t * 0.5) % 2) - 1))
        cv2.circle(frame, (cx, cy), r, (30, 30, 220), -1, cv2.LINE_AA)
        cv2.putText(frame, f"{n:06d}", (10, h - 12), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, h / 720), (255, 255, 255), 2, cv2.LINE_AA)
        return frame

    def close(self) -> None:
        self._background = None


def make_source(spec: CameraSpec) -> FrameSource:
    """The source for one explicit spec (not auto/none)."""
    if spec.scheme == "csi":
        return csi_source(spec)
    if spec.scheme == "gst":
        return gst_source(spec)
    if spec.scheme == "test":
        return SyntheticSource(spec)
    if spec.scheme in ("v4l2", "file", "rtsp", "rtsps", "http", "https"):
        return OpenCvSource(spec)
    raise ValueError(f"no source for scheme {spec.scheme!r}")

"""The terminal's status: what the admin's status page and the kiosk's status bar show.

`read()` asks the running parts now (the outbox count is a database read: never on the UI
thread). The terminal's housekeeper calls `refresh()` every STATUS_POLL_S: it keeps the reading
as `latest` and hands it to every listener (the kiosk window), so no client polls the parts.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from loguru import logger

STATUS_POLL_S = 2.0


def local_ip() -> str | None:
    """The address other machines reach this one on (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            ip = s.getsockname()[0]
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


class StatusBoard:
    """The status of a running terminal's parts, read on demand or from the last refresh.

    `device_name` and `admin_port` are asked each time: run-time settings change them.
    """

    def __init__(self, *, camera, attendance, sensor, gpio, worker, root: Path,
                 device_name: Callable[[], str], admin_port: Callable[[], int]):
        self.camera, self.attendance, self.sensor, self.gpio, self.worker = camera, attendance, sensor, gpio, worker
        self.root = root
        self._device_name, self._admin_port = device_name, admin_port
        self.last_recognition: dt.datetime | None = None
        self.latest: dict = {}
        #: More parts' status by name, added by the composition root (e.g. "zk_pull": the 4370 server)
        self.providers: dict[str, Callable[[], dict]] = {}
        self._listeners: list[Callable[[dict], None]] = []
        self._lock = threading.Lock()

    def recognised(self) -> None:
        """Someone was recognised just now (the status page shows when it last happened)."""
        self.last_recognition = dt.datetime.now(dt.UTC)

    def subscribe(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        """Call `listener(status)` (on the housekeeper's thread) at each refresh; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def refresh(self) -> dict:
        """Read the status now, keep it as `latest` and hand it to the listeners."""
        self.latest = status = self.read()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception:   # one client's failure must not stop the others' updates
                logger.exception("a status listener failed")
        return status

    def read(self) -> dict:
        """What the admin and the status bar show (safe from any thread)."""
        cam = self.camera.status()
        att = self.attendance.status()
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            free = None
        sensor = self.sensor.status().as_dict() if self.sensor is not None else None
        return {
            "device_name": self._device_name(),
            "camera": {"state": cam.state, "fps": round(cam.fps, 1), "source": cam.source, "reason": cam.reason},
            "last_recognition_utc": self.last_recognition.isoformat() if self.last_recognition else None,
            "journal_pending": att["journal_pending"],
            "push_enabled": att["push_enabled"],
            "push_pending": att["push_pending"],
            "disk_free_bytes": free,
            "storage_low": att["storage_low"],         # the status bar and the admin say 存储空间不足
            "retention_hold": att["retention_hold"],   # retention refused across a clock jump
            "sensor": sensor,
            "gpio": self.gpio.summary(),
            "ip": local_ip(),
            "admin_port": self._admin_port(),
            "vision_frames": self.worker.processed,
            **{name: _quiet_status(name, provide) for name, provide in list(self.providers.items())},
        }


def _quiet_status(name: str, provide: Callable[[], dict]) -> dict | None:
    try:
        return provide()
    except Exception:   # one part's failure must not blank the whole status
        logger.exception("status of {} failed", name)
        return None

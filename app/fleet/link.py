"""FleetLink: a fleet terminal's background link to the central database (its own role).

Two threads, each with its own connection, so a slow photo download never holds a punch back:

- **mirror**: ``LISTEN daka_changes``; on a notification or every ``fleet.poll_s`` the
  :class:`~app.fleet.mirror.LibraryMirror` applies the central changes to the local store, then
  the library reloads its gallery (``on_library_changed``);
- **upload**: the :class:`~app.fleet.upload.PunchUploader` sends the stored punches after its
  cursor, queued on-device enrolments go into ``fleet_enrolments`` and, every
  ``fleet.heartbeat_s``, the terminal's own ``fleet_devices`` row is updated.

The kiosk never waits for either: punches are confirmed into the journal and the local store as
on a standalone terminal, and recognition reads the local library. When the centre cannot be
reached (at boot too) both threads retry with a doubling wait (1 s up to ``fleet.retry_max_s``);
nothing is lost meanwhile, and the status says ``离线，N 条待上传``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Callable

from loguru import logger
from psycopg.types.json import Jsonb
from sqlalchemy import func, select

import app
from app.i18n import text
from app.store import FaceTemplate, FleetEnrolment, Staff, Store

from .connect import CentreUnreachable, connect, is_connection_error, safe_url
from .mirror import LibraryMirror, photo_path
from .upload import PunchUploader

CHANNEL = "daka_changes"
UPLOAD_TICK_S = 1.0
GAP_RETRY_S = 1.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Backoff:
    """1 s, 2 s, 4 s ... up to ``most`` between attempts; reset by a success."""

    def __init__(self, most: float):
        self.most, self.failures = most, 0

    def next(self) -> float:
        self.failures += 1
        return min(self.most, 2.0 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


class FleetLink:
    def __init__(self, store: Store, config, photos_dir, *, journal=None,
                 wake_flush: Callable[[], None] | None = None,
                 on_library_changed: Callable[[set[int]], None] | None = None,
                 status_source: Callable[[], dict] | None = None,
                 clock: Callable[[], dt.datetime] = _utcnow):
        self.store, self.config = store, config
        self.journal, self.wake_flush = journal, wake_flush
        self.status_source = status_source
        self.clock = clock
        self.url = config.fleet.database_url
        self.uploader = PunchUploader(store, self.url, clock)
        self.mirror = LibraryMirror(store, photos_dir, on_library_changed=on_library_changed)
        self.device_id: str | None = None
        self.device_name: str | None = None
        self.mirror_online = self.upload_online = False
        self.last_error: str | None = None
        self.last_error_at: dt.datetime | None = None
        self.last_heartbeat: dt.datetime | None = None
        self.enrolments_sent = 0
        self.failed_attempts = 0   # attempts to reach the centre that failed since it was last reached
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mirror_conn = None
        self._last_flush_wake = 0.0

    @property
    def cfg(self):
        return self.config.fleet

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> FleetLink:
        self._halt.clear()
        self._threads = [threading.Thread(target=self._run_mirror, name="fleet-mirror", daemon=True),
                         threading.Thread(target=self._run_upload, name="fleet-upload", daemon=True)]
        for t in self._threads:
            t.start()
        logger.info("fleet: linking to {}", safe_url(self.url))
        return self

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        conn = self._mirror_conn
        if conn is not None:
            try:
                conn.cancel_safe(timeout=2)   # a mirror waiting in a query returns now
            except Exception:
                pass
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
        # a last upload of what was stored meanwhile, when the centre is there (never a wait for an
        # unreachable one: what is left goes at the next start)
        if self.upload_online:
            try:
                self.uploader.upload(limit=20)
            except Exception as exc:
                logger.info("fleet: the last upload at stop did not happen ({}); it goes at the next start", exc)
        self.uploader.close()

    def upload_now(self) -> None:
        self._wake.set()

    # -- the mirror thread ------------------------------------------------------------------------
    def _run_mirror(self) -> None:
        backoff = Backoff(self.cfg.retry_max_s)
        while not self._halt.is_set():
            try:
                conn = self._mirror_conn = connect(self.url, autocommit=True, application_name="daka-fleet-mirror")
                try:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._mirror_round(conn)
                    self.mirror_online = True
                    backoff.reset()
                    while not self._halt.is_set():
                        self._wait_for_changes(conn)
                        if self._halt.is_set():
                            break
                        self._mirror_round(conn)
                finally:
                    self._mirror_conn = None
                    conn.close()
            except Exception as exc:
                self.mirror_online = False
                if self._halt.is_set():   # the stop cancelled a query: not a failure
                    return
                self._failed("mirror", exc)
                self._halt.wait(backoff.next())

    def _mirror_round(self, conn) -> None:
        applied = self.mirror.sync(conn)
        if applied:
            logger.info("fleet: applied {} central change(s), now at {}", applied, self.mirror.cursor)

    def _wait_for_changes(self, conn) -> None:
        """Until a notification, the poll interval, or (a gap pending) a short retry."""
        wait = GAP_RETRY_S if self.mirror.waiting_gap is not None else self.cfg.poll_s
        deadline = time.monotonic() + wait
        while not self._halt.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # (each generator holds the connection's lock until it ends: never nest them)
            if list(conn.notifies(timeout=min(left, 1.0), stop_after=1)):
                list(conn.notifies(timeout=0.05))   # the rest of a burst: one round reads them all
                return

    # -- the upload thread ------------------------------------------------------------------------
    def _run_upload(self) -> None:
        backoff = Backoff(self.cfg.retry_max_s)
        next_beat = 0.0
        while not self._halt.is_set():
            try:
                self._poke_flush()
                if self.device_id is None:
                    self._identify()
                self.uploader.upload()
                self._send_enrolments()
                if time.monotonic() >= next_beat:
                    self._heartbeat()
                    next_beat = time.monotonic() + self.cfg.heartbeat_s
                if not self.upload_online:
                    logger.info("fleet: connected to the centre as device {}", self.device_id)
                self.upload_online = True
                self.failed_attempts = 0
                backoff.reset()
                self._wake.wait(UPLOAD_TICK_S)
                self._wake.clear()
            except Exception as exc:
                if self.upload_online or backoff.failures == 0:
                    logger.warning("fleet: the centre is unreachable; punches wait here ({} waiting)",
                                   self._pending_quietly())
                self.upload_online = False
                self.failed_attempts += 1
                self.uploader.close()
                self._failed("upload", exc)
                self._halt.wait(backoff.next())

    def _poke_flush(self) -> None:
        # punches journaled but not yet in the local store go up sooner (at most one wake-up a second)
        if self.journal is not None and self.wake_flush is not None and self.journal.pending_count():
            now = time.monotonic()
            if now - self._last_flush_wake > 1.0:
                self._last_flush_wake = now
                self.wake_flush()

    def _identify(self) -> None:
        conn = self.uploader.connection()
        row = conn.execute("SELECT device_id, name FROM fleet_devices WHERE device_id = fleet_device_id()").fetchone()
        if row is None:
            raise RuntimeError("this role is not a fleet terminal (no fleet_devices row): see `daka fleet add-terminal`")
        self.device_id, self.device_name = row

    def _heartbeat(self) -> None:
        status = self._terminal_status()
        camera = (status.get("camera") or {}).get("state")
        sensor = status.get("sensor")
        sensor_state = None if sensor is None else (sensor.get("state") if isinstance(sensor, dict) else str(sensor))
        last = self.uploader.last_punch_at
        conn = self.uploader.connection()
        with conn.transaction():
            conn.execute("UPDATE fleet_devices SET heartbeat_at = now(), version = %s, camera = %s, sensor = %s, "
                         "pending = %s, last_punch_at = COALESCE(%s, last_punch_at), last_error = %s "
                         "WHERE device_id = fleet_device_id()",
                         (app.__version__, camera, sensor_state, self.pending(), last, self.last_error))
        self.last_heartbeat = self.clock()

    def _terminal_status(self) -> dict:
        if self.status_source is None:
            return {}
        try:
            return self.status_source() or {}
        except Exception:
            return {}

    # -- enrolments up ------------------------------------------------------------------------------
    def queue_enrolment(self, template_id: int) -> bool:
        """Queue an on-device enrolment (the photo of ``template_id``, every model's descriptor) for the centre."""
        with self.store.session() as s:
            first = s.get(FaceTemplate, template_id)
            if first is None:
                return False
            rows = s.scalars(select(FaceTemplate).where(FaceTemplate.photo_file == first.photo_file)).all()
            staff = s.get(Staff, first.staff_id)
            path = photo_path(self.mirror.photos_dir, first.photo_file)
            if staff is None or path is None or not path.exists():
                return False
            descriptors = {t.model_id: base64.b64encode(t.descriptor).decode("ascii") for t in rows}
            s.add(FleetEnrolment(staff_no=staff.staff_no, name=staff.name, photo=path.read_bytes(),
                                 photo_sha256=first.photo_sha256, descriptors=json.dumps(descriptors),
                                 quality=float(first.quality or 0.0)))
        self._wake.set()
        return True

    def _send_enrolments(self) -> None:
        while not self._halt.is_set():
            with self.store.session() as s:
                row = s.scalars(select(FleetEnrolment).order_by(FleetEnrolment.id).limit(1)).first()
                if row is None:
                    return
                item = (row.id, row.staff_no, row.name, row.photo, json.loads(row.descriptors), row.quality)
            conn = self.uploader.connection()
            with conn.transaction():
                conn.execute("INSERT INTO fleet_enrolments (staff_no, name, photo, descriptors, quality) "
                             "VALUES (%s, %s, %s, %s, %s)", (item[1], item[2], item[3], Jsonb(item[4]), item[5]))
            with self.store.session() as s:   # only after the central commit
                gone = s.get(FleetEnrolment, item[0])
                if gone is not None:
                    s.delete(gone)
            self.enrolments_sent += 1
            logger.info("fleet: sent the on-device enrolment of {} to the centre", item[1])

    # -- status ---------------------------------------------------------------------------------------
    def _failed(self, part: str, exc: BaseException) -> None:
        reach = isinstance(exc, CentreUnreachable) or is_connection_error(exc)
        message = f"{part}: {' '.join(str(exc).split())[:300]}"
        if message != self.last_error:
            if reach:
                logger.warning("fleet: {}", message)
            else:
                logger.opt(exception=exc).error("fleet: {}", message)
        self.last_error, self.last_error_at = message, self.clock()

    @property
    def online(self) -> bool:
        return self.mirror_online and self.upload_online

    def pending(self) -> int:
        """Punches not yet committed at the centre: stored here after the cursor, and still journaled."""
        journaled = self.journal.pending_count() if self.journal is not None else 0
        return self.uploader.pending() + journaled

    def _pending_quietly(self) -> int | None:
        try:
            return self.pending()
        except Exception:
            return None

    def queued_enrolments(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(FleetEnrolment)) or 0

    def status(self) -> dict:
        """The status board's ``fleet`` block (a local database read: not on the UI thread)."""
        pending = self.pending()
        if self.online:
            state = "online"
        elif self.last_error is None:
            state = "connecting"
        else:
            state = "offline"
        key = {"online": "fleet.online", "offline": "fleet.offline", "connecting": "fleet.connecting"}[state]
        iso = lambda t: t.isoformat() if t else None   # noqa: E731
        return {"enabled": True, "state": state, "online": self.online, "pending": pending,
                "text": text(key, "zh_CN", n=pending), "text_en": text(key, "en", n=pending),
                "centre": safe_url(self.url), "device_id": self.device_id,
                "name": self.cfg.name or self.device_name,
                "change_no": self.mirror.cursor, "waiting_gap": self.mirror.waiting_gap,
                "last_sync_utc": iso(self.mirror.last_sync), "last_upload_utc": iso(self.uploader.last_upload),
                "last_heartbeat_utc": iso(self.last_heartbeat), "failed_attempts": self.failed_attempts,
                "queued_enrolments": self.queued_enrolments(),
                "last_error": self.last_error, "last_error_utc": iso(self.last_error_at)}

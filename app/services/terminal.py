"""Terminal: every part of a running terminal, built from the config, started and stopped in order.

No Kivy here: the window (`app.kiosk.app`) is one client of the terminal, the admin web server
another. Threads: camera capture, vision worker, distance sensor, the APScheduler, one confirm
worker (journal writes), the housekeeper (status and run-time settings) and any extra
services added with `add_service` (the admin server). `stop()` joins them all and flushes the
journal into the database.

The Terminal composes the parts, runs their life cycle, confirms punches, gives feedback
(buzzer, LEDs, door) and fans events out to its clients: vision updates (`on_update`), presence
(`on_presence`) and status (`on_status`). Its roles live beside it: `self.cards` (StaffCards,
cards.py: who a face is), `self.status_board` (StatusBoard, status.py) and the on-device 自检
(`self_test`, selfcheck.py).

A frame's path: camera -> FrameSlot -> VisionWorker (app/vision/worker.py) -> pipeline ->
`Terminal._on_result` (cards, audit, fan-out) -> clients. The kiosk also peeks the newest frame
from the slot to draw it.

Run-time settings: the terminal runs with daka.toml overlaid by the values an admin stored
(`SettingsService.effective`), and applies a change at once (announced by the store's
SettingsService in this process, or seen by the housekeeper's poll when another process wrote
it) through SETTING_APPLIERS, the one table of what each key changes in the running services.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol
from zoneinfo import ZoneInfo

import cv2
from loguru import logger

from app.vision.worker import VisionWorker

from . import selfcheck
from .cards import StaffCards, face_snapshot
from .events import StaffCard, VisionUpdate
from .status import STATUS_POLL_S, StatusBoard

SETTINGS_POLL_S = 3.0


class Service(Protocol):
    """A background service run by the terminal (e.g. the admin web server)."""

    def start(self) -> object: ...
    def stop(self) -> object: ...


class Notifier(Protocol):
    """The service manager link (systemd sd_notify): ready, watchdog pings, stopping."""

    def ready(self) -> object: ...
    def watchdog(self) -> object: ...
    def stopping(self) -> object: ...


class NullNotifier:
    def ready(self) -> None: ...
    def watchdog(self) -> None: ...
    def stopping(self) -> None: ...


class Terminal:
    def __init__(self, config, instance, *, source: str | None = None, sensor_port: str | None = None,
                 pin_factory=None, models=None, camera=None):
        from app.attendance import build_scheduler
        from app.hardware.camera import camera_from_config
        from app.hardware.gpio import TerminalGpio
        from app.hardware.tof200f import sensor_from_config
        from app.store import open_store
        from app.store.settings import SettingsService
        from app.vision.gallery import FaceGallery
        from app.vision.liveness.audit import LivenessAudit

        from .compose import open_attendance, open_library, open_models, open_pipeline

        self.file_config, self.instance = config, instance   # daka.toml + environment
        self.store = open_store(config, instance)
        self.settings = SettingsService(self.store, config)
        # what an admin stored overrides the file, from the first moment (see docs/config.md)
        config, self._applied = self.settings.effective()
        self.config = config   # replaced by the effective config at each change
        self.device_name = config.device.name
        self.sound = config.ui.sound
        self.confirm_seconds = config.attendance.confirm_seconds
        self.relay_mode = config.gpio.relay_mode
        self.language = config.device.language
        models = open_models(config, models)
        self.attendance = open_attendance(config, instance, self.store)
        self.gallery = FaceGallery()
        self.library = open_library(config, instance, self.store, models=models, gallery=self.gallery, load=False)
        self.engine = self.library.engine
        self.pipeline = open_pipeline(config, models, self.gallery)
        self.camera = camera or camera_from_config(config.camera, source)
        self.sensor = sensor_from_config(config.sensor, sensor_port, on_reading=self._on_reading)
        # liveness: the TOF distance goes with each frame; refused attempts are audited with a snapshot
        self.pipeline.distance_source = self._distance_mm
        self.liveness_audit = LivenessAudit(self.store, instance.snapshots_dir)
        self.gpio = TerminalGpio(config.gpio, pin_factory)
        self.scheduler = build_scheduler(config, self.attendance)
        self.worker = VisionWorker(self.pipeline, self.camera.slot, self._on_result)
        self.cards = StaffCards(self.store, instance.photos_dir)
        self.status_board = StatusBoard(camera=self.camera, attendance=self.attendance, sensor=self.sensor,
                                        gpio=self.gpio, worker=self.worker, root=instance.root,
                                        device_name=lambda: self.device_name,
                                        admin_port=lambda: self.config.admin.port)
        self.services: list[Service] = []
        self.notifier: Notifier = NullNotifier()
        self._confirmer = ThreadPoolExecutor(1, thread_name_prefix="confirm")
        self._listeners: list[Callable[[VisionUpdate], None]] = []
        self._presence_listeners: list[Callable[[bool | None], None]] = []
        self._halt = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._present: bool | None = None
        self.descriptors_computed = 0
        self._settings_lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self.ui_attached = False   # True: the window pings the watchdog (proves the UI thread alive)
        self.started = self.stopped = False

    # -- wiring ------------------------------------------------------------------------------
    def add_service(self, service: Service) -> None:
        """Run `service` with the terminal: started after the core parts, stopped first."""
        self.services.append(service)

    def on_update(self, listener: Callable[[VisionUpdate], None]) -> None:
        """Call `listener` (on the vision thread) with every vision result."""
        self._listeners.append(listener)

    def on_presence(self, listener: Callable[[bool | None], None]) -> None:
        """Call `listener` (on the sensor thread) when the sensor's presence changes."""
        self._presence_listeners.append(listener)

    def on_status(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        """Call `listener` (on the housekeeper thread) with each status reading; returns the unsubscribe."""
        return self.status_board.subscribe(listener)

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> Terminal:
        recovered = self.attendance.recover()
        if recovered:
            logger.info("stored {} punches journaled by an earlier run", recovered)
        templates = self.library.load_gallery()
        logger.info("gallery: {} face templates", templates)
        # a change saved by the admin in this process is applied before its page answers
        self._unsubscribe = self.settings.subscribe(lambda _key: self._apply_settings())
        self._apply_settings()
        self.camera.start()
        self.worker.start()
        if self.sensor is not None:
            self.sensor.start()
        self.scheduler.start()
        started = []
        for service in self.services:
            try:
                service.start()
                started.append(service)
            except Exception:   # e.g. the admin's port is taken: the clock-in screen still comes up
                logger.exception("service {!r} failed to start", service)
        self.services = started
        self._housekeeper = threading.Thread(target=self._housekeep, name="housekeeper", daemon=True)
        self._housekeeper.start()
        self.gpio.show("ready")
        self.started = True
        self.notifier.ready()
        logger.info("terminal started: camera {}, sensor {}, gpio {}, {} extra services",
                    self.camera.spec.url, self.sensor.port if self.sensor else "none", self.gpio.state,
                    len(self.services))
        return self

    def stop(self) -> None:
        """Stop everything, newest first; the journal is flushed into the database last."""
        if self.stopped:
            return
        self.stopped = True
        self.notifier.stopping()
        logger.info("terminal stopping")
        if self._unsubscribe is not None:
            self._unsubscribe()
        for service in reversed(self.services):
            _quietly(service.stop, f"service {service!r}")
        self._halt.set()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=5)
        self.worker.stop()
        self.camera.stop()
        if self.worker.is_alive():
            self.worker.join(timeout=10)
        if self.sensor is not None:
            _quietly(self.sensor.stop, "sensor")
        self._confirmer.shutdown(wait=True)   # a confirm under way finishes its journal write
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.attendance.close()
        _quietly(self.gpio.close, "gpio")
        self.store.dispose()
        logger.info("terminal stopped: journal flushed, {} pending", self.attendance.journal.pending_count())

    # -- clock-in ------------------------------------------------------------------------------
    def confirm(self, card: StaffCard, score: float | None, box=None) -> Future:
        """Confirm a punch on the confirm worker; the future gives the ClockInResult."""
        frame = self.camera.slot.latest()
        return self._confirmer.submit(self._confirm, card, score, None if frame is None else frame.frame, box)

    def _confirm(self, card: StaffCard, score, frame, box):
        from app.attendance import Candidate

        result = self.attendance.clockin.confirm(Candidate(card.staff_id, card.staff_no, card.name, score,
                                                           snapshot_jpeg=face_snapshot(frame, box)))
        self.feedback("success" if result.recorded else "already")
        return result

    # -- on-device admin (each runs on the worker: storage never on the UI thread) -----------------
    def run_job(self, func, *args) -> Future:
        """Run `func(*args)` on the terminal's worker thread (the one that confirms punches)."""
        return self._confirmer.submit(func, *args)

    def enroll_capture(self, card: StaffCard):
        """Enrol the newest camera frame as another face template of `card` (an EnrollResult)."""
        latest = self.camera.slot.latest()
        if latest is None:
            raise RuntimeError("no camera frame")
        ok, jpeg = cv2.imencode(".jpg", latest.frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError("could not encode the frame")
        result = self.library.enroll_bytes(jpeg.tobytes(), f"{card.staff_no}_{card.name}.jpg")
        self.cards.forget(card.staff_id)
        return result

    def change_setting(self, key: str, value, actor: str = "device") -> object:
        """Store a run-time setting (validated, audited) and apply it at once."""
        stored = self.settings.set(key, value, actor)
        self._apply_settings()
        return stored

    def self_test(self) -> list[selfcheck.Check]:
        """The on-device 自检: the parts in use checked, the outputs exercised (app/services/selfcheck.py)."""
        return selfcheck.device_checks(self)

    def feedback(self, kind: str) -> None:
        """Buzzer, LEDs and the door for an outcome (success opens a wired door unless relay_mode is off)."""
        beep = self.gpio.beep if self.sound else (lambda _pattern: False)
        if kind == "success":
            beep("ok")
            self.gpio.show("success")
            if self.relay_mode == "pulse":
                self.gpio.open_door()
        elif kind == "already":
            beep("double")
            self.gpio.show("success")
        elif kind in ("unknown", "liveness", "error"):
            beep("error")
            self.gpio.show("failure")

    # -- vision thread ---------------------------------------------------------------------------
    def _distance_mm(self) -> int | None:
        return self.sensor.status().distance_mm if self.sensor is not None else None

    def _on_result(self, result) -> None:
        self.descriptors_computed += result.recognised
        if self.worker.frame is not None:
            try:
                self.liveness_audit.record(self.worker.frame, result)
            except Exception:   # an audit failure must not stop recognition
                logger.exception("liveness audit failed")
        ids = {t.staff_id for t in result.tracks if t.staff_id is not None}  # passed liveness too
        if ids:
            self.status_board.recognised()
        cards = {i: c for i in ids if (c := self.cards.card(i)) is not None}
        update = VisionUpdate(result, cards)
        for listener in self._listeners:
            listener(update)

    def _on_reading(self, reading, present: bool) -> None:
        if present == self._present:
            return
        self._present = present
        for listener in self._presence_listeners:
            listener(present)

    # -- housekeeping: status and run-time settings ----------------------------------------------
    def _housekeep(self) -> None:
        next_settings = 0.0
        while not self._halt.is_set():
            now = time.monotonic()
            try:
                self.status_board.refresh()   # kept as `latest` and handed to on_status listeners
                if now >= next_settings:
                    self._apply_settings()
                    next_settings = now + SETTINGS_POLL_S
                if not self.ui_attached:
                    self.notifier.watchdog()
            except Exception:
                logger.exception("housekeeping failed")
            self._halt.wait(STATUS_POLL_S)

    def _apply_settings(self) -> None:
        with self._settings_lock:   # the housekeeper and an on-device change may both apply
            self._apply_settings_locked()

    def _apply_settings_locked(self) -> None:
        config, values = self.settings.effective()
        changed = [k for k, v in values.items() if self._applied.get(k) != v]
        if not changed:
            return
        self.config = config
        for applier in dict.fromkeys(SETTING_APPLIERS[k] for k in changed):   # each once, in order
            applier(self, config)
        self._applied = values
        logger.info("run-time settings applied: {}", ", ".join(
            f"{k}={'***' if k == 'push.secret' and values[k] else values[k]}" for k in changed))

    @property
    def timezone(self) -> ZoneInfo:
        """The terminal's time zone now (``device.timezone``, changeable at run time)."""
        return self.attendance.clockin.tz

    def status(self) -> dict:
        """What the admin and the status bar show, read now (safe from any thread; not the UI thread)."""
        return self.status_board.read()


# -- run-time settings: what each key changes in the running terminal --------------------------
# Each applier takes the terminal and the effective config (daka.toml + stored settings) and
# makes the running services follow it; appliers are idempotent. A key offered to admins
# without an entry here fails tests/test_settings_live.py.

def _apply_device_name(t: Terminal, cfg) -> None:
    t.device_name = cfg.device.name   # the kiosk's status bar and status() read it


def _apply_sound(t: Terminal, cfg) -> None:
    t.sound = cfg.ui.sound


def _apply_confirm_seconds(t: Terminal, cfg) -> None:
    t.confirm_seconds = cfg.attendance.confirm_seconds   # the kiosk's flow follows it


def _apply_relay_mode(t: Terminal, cfg) -> None:
    t.relay_mode = cfg.gpio.relay_mode


def _apply_language(t: Terminal, cfg) -> None:
    t.language = cfg.device.language   # the kiosk follows it


def _apply_decision_rule(t: Terminal, cfg) -> None:
    from app.vision.decision import DecisionRule

    rule = DecisionRule.from_config(cfg.recognition, cfg.vision.embedder)
    t.pipeline.rule = DecisionRule(rule.threshold, rule.margin, t.pipeline.rule.min_observations)


def _apply_dedupe(t: Terminal, cfg) -> None:
    t.attendance.clockin.dedupe = dt.timedelta(seconds=cfg.attendance.dedupe_seconds)


def _apply_jobs(t: Terminal, cfg) -> None:
    """Flush interval, retention days, push on/off and the zone of the jobs' triggers."""
    t.attendance.retention.days = cfg.storage.retention_days
    t.scheduler.sync(cfg)


def _apply_push(t: Terminal, cfg) -> None:
    t.attendance.pusher.configure(cfg.push, cfg.device.timezone)
    t.scheduler.sync(cfg)   # the delivery job and the outbox follow push on/off


def _apply_timezone(t: Terminal, cfg) -> None:
    # punches confirmed from now on take their local date and time in the new zone
    t.attendance.clockin.tz = ZoneInfo(cfg.device.timezone)
    _apply_push(t, cfg)   # HR gets local times in the new zone; the retention time moves with it


SETTING_APPLIERS: dict[str, Callable[[Terminal, object], None]] = {
    "device.name": _apply_device_name,
    "recognition.threshold": _apply_decision_rule,
    "recognition.margin": _apply_decision_rule,
    "recognition.faceres_threshold": _apply_decision_rule,
    "recognition.faceres_margin": _apply_decision_rule,
    "recognition.fused_threshold": _apply_decision_rule,
    "recognition.fused_margin": _apply_decision_rule,
    "attendance.dedupe_seconds": _apply_dedupe,
    "attendance.confirm_seconds": _apply_confirm_seconds,
    "attendance.flush_seconds": _apply_jobs,
    "storage.retention_days": _apply_jobs,
    "push.webhook_url": _apply_push,
    "push.secret": _apply_push,
    "gpio.relay_mode": _apply_relay_mode,
    "device.timezone": _apply_timezone,
    "device.language": _apply_language,
    "ui.sound": _apply_sound,
}


def _quietly(func, what: str) -> None:
    try:
        func()
    except Exception:
        logger.exception("stopping {} failed", what)

"""Terminal: every part of a running terminal, built from the config, started and stopped in order.

No Kivy here: the window (`app.kiosk.app`) is one client of the terminal, the admin web server
another. Threads: camera capture, vision worker, distance sensor, the APScheduler, one confirm
worker (journal writes), the housekeeper (status), the settings watcher and any extra
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
(`SettingsService.effective`), subscribes to the settings service and applies each change at
once through the appliers of the registry (`app/services/settings.py`); it owns the one
watcher thread that notices a change another process stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol
from zoneinfo import ZoneInfo

from loguru import logger

from app.attendance import Candidate, build_scheduler
from app.config import resolve_device_id
from app.hardware.camera import camera_from_config
from app.hardware.gpio import TerminalGpio
from app.hardware.tof200f import sensor_from_config
from app.library import Identity
from app.store import open_store
from app.vision.gallery import FaceGallery
from app.vision.liveness.audit import LivenessAudit
from app.vision.worker import VisionWorker

from . import selfcheck
from .compose import open_attendance, open_library, open_models, open_pipeline
from .cards import StaffCards, face_snapshot
from .events import StaffCard, VisionUpdate
from .face_events import FaceEventRecorder
from .settings import SettingsService, apply_changes, describe_changes
from .status import STATUS_POLL_S, StatusBoard


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
        self.file_config, self.instance = config, instance   # daka.toml + environment
        self.store = open_store(config, instance)
        self.settings = SettingsService(self.store, config)
        # what an admin stored overrides the file, from the first moment (see docs/config.md)
        config, _values = self.settings.effective()
        self.config = config   # replaced by the effective config at each change
        self.device_name = config.device.name
        self.sound = config.ui.sound
        self.confirm_seconds = config.attendance.confirm_seconds
        self.relay_mode = config.gpio.relay_mode
        self.language = config.device.language
        models = open_models(config, models)
        self.attendance = open_attendance(config, instance, self.store)
        self.gallery = FaceGallery()
        # the library and the pipeline share one landmark model and embedder (compose.open_vision)
        self.library = open_library(config, instance, self.store, models=models, gallery=self.gallery, load=False)
        self.pipeline = open_pipeline(config, models, self.gallery)
        self.camera = camera or camera_from_config(config.camera, source)
        self.sensor = sensor_from_config(config.sensor, sensor_port, on_reading=self._on_reading)
        # liveness: the TOF distance goes with each frame; refused attempts are audited with a snapshot
        self.pipeline.distance_source = self._distance_mm
        self.liveness_audit = LivenessAudit(self.store, instance.snapshots_dir)
        # stranger and spoof records (issue 25): decided on the vision thread, written on the worker
        self.face_events = FaceEventRecorder(self.store, instance.snapshots_dir, device_id=resolve_device_id(config),
                                             timezone=config.device.timezone, enabled=config.records.face_events,
                                             gap_seconds=config.records.face_event_gap_seconds)
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
        # told the template id of each on-device enrolment (a fleet terminal queues it for the centre)
        self.enrolment_listeners: list[Callable[[int], object]] = []
        self._halt = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._present: bool | None = None
        self.descriptors_computed = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.ui_attached = False   # True: the window pings the watchdog (proves the UI thread alive)
        self.started = self.stopped = False

    # -- wiring ------------------------------------------------------------------------------
    def add_service(self, service: Service) -> None:
        """Run `service` with the terminal: started after the core parts, stopped first."""
        self.services.append(service)

    def on_update(self, listener: Callable[[VisionUpdate], None]) -> Callable[[], None]:
        """Call `listener` (on the vision thread) with every vision result; returns the unsubscribe."""
        self._listeners = [*self._listeners, listener]
        return lambda: self._drop("_listeners", listener)

    def on_presence(self, listener: Callable[[bool | None], None]) -> Callable[[], None]:
        """Call `listener` (on the sensor thread) when the sensor's presence changes; returns the unsubscribe."""
        self._presence_listeners = [*self._presence_listeners, listener]
        return lambda: self._drop("_presence_listeners", listener)

    def _drop(self, name: str, listener) -> None:
        # a new list, never the one another thread may be calling through (copy on write)
        setattr(self, name, [other for other in getattr(self, name) if other is not listener])

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
        self._unsubscribe = self.settings.subscribe(self._settings_changed)
        self.settings.watch()   # the one watcher of changes made by another process
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
        self.settings.stop_watching()
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
    def confirm(self, card: StaffCard, score: float | None, box=None, status: int = 0) -> Future:
        """Confirm a punch on the confirm worker; the future gives the ClockInResult.

        `status`: the punch state chosen on the card (0 in .. 5 overtime out, ZKTeco's; 0 when none).
        """
        frame = self.camera.slot.latest()
        return self._confirmer.submit(self._confirm, card, score, None if frame is None else frame.frame, box,
                                      status)

    def _confirm(self, card: StaffCard, score, frame, box, status: int = 0):
        result = self.attendance.clockin.confirm(Candidate(card.staff_id, card.staff_no, card.name, score,
                                                           snapshot_jpeg=face_snapshot(frame, box),
                                                           status=status))
        punch = result.punch
        logger.info("punch: {} {} at {}{}", punch.staff_no, punch.name, punch.local_time,
                    "" if result.recorded else " (already punched: not recorded again)")
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
        # the frame itself (stored as a JPEG), for the person on the card, who must still exist
        result = self.library.enroll(latest.frame, Identity(card.staff_no, card.name, existing=True))
        self.cards.forget(card.staff_id)
        if result.ok and result.template_id is not None:
            for listener in self.enrolment_listeners:
                _quietly(lambda: listener(result.template_id), "an enrolment listener")
        return result

    def change_setting(self, key: str, value, actor: str = "device") -> object:
        """Store a run-time setting (validated, audited); applied before this returns."""
        return self.settings.set(key, value, actor)

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
            for face in self.face_events.pick(result):   # the JPEG now: the frame's buffer moves on
                self._confirmer.submit(self._write_face_event, face_snapshot(self.worker.frame, face.box), face)
        ids = {t.staff_id for t in result.tracks if t.staff_id is not None}  # passed liveness too
        if ids:
            self.status_board.recognised()
        cards = {i: c for i in ids if (c := self.cards.card(i)) is not None}
        update = VisionUpdate(result, cards)
        for listener in self._listeners:
            listener(update)

    def _write_face_event(self, jpeg, face) -> None:
        try:
            self.face_events.write(jpeg, face)
        except Exception:   # a record lost must not stop the worker that confirms punches
            logger.exception("the {} record could not be stored", face.kind)

    def _on_reading(self, reading, present: bool) -> None:
        if present == self._present:
            return
        self._present = present
        for listener in self._presence_listeners:
            listener(present)

    # -- housekeeping: status (run-time settings come by subscription) ------------------------------
    def _housekeep(self) -> None:
        while not self._halt.is_set():
            try:
                self.status_board.refresh()   # kept as `latest` and handed to on_status listeners
                if not self.ui_attached:
                    self.notifier.watchdog()
            except Exception:
                logger.exception("housekeeping failed")
            self._halt.wait(STATUS_POLL_S)

    def _settings_changed(self, config, changed: tuple[str, ...]) -> None:
        """The settings service's subscriber (on the thread that saved or noticed a change)."""
        self.config = config
        apply_changes(self, config, changed)
        logger.info("run-time settings changed: {}", describe_changes(config, changed))

    @property
    def timezone(self) -> ZoneInfo:
        """The terminal's time zone now (``device.timezone``, changeable at run time)."""
        return self.attendance.clockin.tz

    def status(self) -> dict:
        """What the admin and the status bar show, read now (safe from any thread; not the UI thread)."""
        return self.status_board.read()


def _quietly(func, what: str) -> None:
    try:
        func()
    except Exception:
        logger.exception("stopping {} failed", what)

"""Attendance: the clock-in services of one terminal, composed from the config and instance."""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from app.config import resolve_device_id
from app.instance import Instance
from app.store import Store

from .clockin import ClockInService
from .flush import PunchFlusher
from .journal import PunchJournal
from .punches import PunchWriter
from .push import WebhookPusher, pushes_here
from .retention import RetentionService

RETENTION_STATE_FILE = "retention.json"


@dataclass
class Attendance:
    store: Store
    journal: PunchJournal
    writer: PunchWriter
    clockin: ClockInService
    flusher: PunchFlusher
    pusher: WebhookPusher
    retention: RetentionService
    instance: Instance | None = None  # its space reserve is part of "storage low"

    def recover(self) -> int:
        """Store what an earlier run journaled but did not flush; call once at start.

        A database that cannot take them now (a full disk) does not stop the start: the punches
        stay journaled and the flush job stores them once it can.
        """
        try:
            stored = self.flusher.flush()
        except Exception:
            logger.exception("start: journaled punches not stored now ({} wait in the journal)",
                             self.journal.pending_count())
            stored = 0
        self.clockin.warm_up()
        return stored

    def storage_low(self) -> bool:
        """The disk is full: the journal's reserve is being used up, or the database cannot take punches.

        Also when the instance's space reserve had to be released (a start on a full disk) and
        there is not yet room to make it again.
        """
        if self.journal.reserve_short or self.flusher.disk_full:
            return True
        return self.instance is not None and not self.instance.keep_space_reserve()

    def status(self) -> dict:
        """What waits: punches not yet in the database and punches not yet at HR; what is wrong."""
        backlog = self.pusher.backlog() if self.pusher.enabled else None
        return {
            "storage_low": self.storage_low(),
            "retention_hold": self.retention.hold,
            "journal_pending": self.journal.pending_count(),
            "push_enabled": self.pusher.enabled,
            "push_pending": backlog.pending if backlog else 0,
            "push_oldest_utc": backlog.oldest_created_at.isoformat() if backlog and backlog.oldest_created_at else None,
            "push_last_error": backlog.last_error if backlog else None,
        }

    def close(self) -> None:
        """Flush what is waiting and close the journal (a clean stop)."""
        self.flusher.flush()
        self.journal.close()


def open_attendance(config, instance, store: Store) -> Attendance:
    device_id = resolve_device_id(config)
    journal = PunchJournal(instance.journal_dir)
    a = config.attendance
    clockin = ClockInService(store, journal, device_id=device_id, timezone=config.device.timezone,
                             dedupe_seconds=a.dedupe_seconds, flush_batch=a.flush_batch,
                             snapshots_dir=instance.snapshots_dir)
    writer = PunchWriter(store, push_enabled=pushes_here(config))
    flusher = PunchFlusher(writer, journal, batch_size=a.flush_batch)
    pusher = WebhookPusher(store, config.push, device_id=device_id, timezone=config.device.timezone,
                           by_centre=bool(config.fleet.database_url))
    retention = open_retention(store, instance, days=config.storage.retention_days,
                               event_days=config.records.face_event_days)
    return Attendance(store, journal, writer, clockin, flusher, pusher, retention, instance)


def open_retention(store: Store, instance, *, days: int, event_days: int = 0) -> RetentionService:
    """The retention service of an instance: its snapshots folder and its last-run state file.

    The terminal (``open_attendance``) and the standalone admin (its ``clear_data``) both build
    it here, with the days they read (the config, or the stored run-time setting).
    """
    return RetentionService(store, instance.snapshots_dir, days=days, event_days=event_days,
                            state_path=instance.root / RETENTION_STATE_FILE)

"""Attendance: the clock-in services of one terminal, composed from the config and instance."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import resolve_device_id
from app.store import Store

from .clockin import ClockInService
from .flush import PunchFlusher
from .journal import PunchJournal
from .push import WebhookPusher
from .retention import RetentionService


@dataclass
class Attendance:
    store: Store
    journal: PunchJournal
    clockin: ClockInService
    flusher: PunchFlusher
    pusher: WebhookPusher
    retention: RetentionService

    def recover(self) -> int:
        """Store what an earlier run journaled but did not flush; call once at start."""
        stored = self.flusher.flush()
        self.clockin.warm_up()
        return stored

    def status(self) -> dict:
        """What waits: punches not yet in the database and punches not yet at HR."""
        backlog = self.pusher.backlog() if self.pusher.enabled else None
        return {
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
    flusher = PunchFlusher(store, journal, push_enabled=bool(config.push.webhook_url),
                           batch_size=a.flush_batch)
    pusher = WebhookPusher(store, config.push, device_id=device_id, timezone=config.device.timezone)
    retention = RetentionService(store, instance.snapshots_dir, days=config.storage.retention_days)
    return Attendance(store, journal, clockin, flusher, pusher, retention)

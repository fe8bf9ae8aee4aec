"""ClockInService.confirm: a confirmed punch is durable (journaled and synced) before it returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid as uuid_mod
from collections.abc import Callable
from zoneinfo import ZoneInfo

from loguru import logger
from sqlalchemy import select

from app.store import Punch, Store

from .journal import PunchJournal
from .records import NAME_MAX, PUNCH_STATES, STAFF_NO_MAX, Candidate, ClockInResult, PunchRecord

PUNCH_SOURCES = ("face", "makeup", "manual")
# Plain rows, not ORM objects: confirm runs on the screen's time.
_RECORD_COLUMNS = (Punch.uuid, Punch.staff_id, Punch.staff_no, Punch.name, Punch.punched_at,
                   Punch.local_date, Punch.device_id, Punch.score, Punch.source, Punch.snapshot_file,
                   Punch.status)


class ClockInService:
    def __init__(self, store: Store, journal: PunchJournal, *, device_id: str, timezone: str,
                 dedupe_seconds: int = 60, flush_batch: int = 20, snapshots_dir=None,
                 on_batch_full: Callable[[], None] | None = None,
                 clock: Callable[[], dt.datetime] | None = None):
        self.store, self.journal = store, journal
        self.device_id, self.tz = device_id, ZoneInfo(timezone)
        self.dedupe = dt.timedelta(seconds=dedupe_seconds)
        self.flush_batch = flush_batch
        self.snapshots_dir = snapshots_dir
        self.on_batch_full = on_batch_full
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()
        self._last: dict[int, PunchRecord] = {}  # newest punch per staff id seen by this process

    def confirm(self, candidate: Candidate) -> ClockInResult:
        """Record a punch for a confirmed candidate, unless it repeats one within the window."""
        if candidate.source not in PUNCH_SOURCES:
            raise ValueError(f"unknown punch source {candidate.source!r}")
        if candidate.status not in PUNCH_STATES:
            raise ValueError(f"unknown punch state {candidate.status!r}")
        with self._lock:
            now = self._clock().astimezone(dt.UTC)
            last = self._latest(candidate.staff_id, now)
            # A punch dated after now (taken while the clock was wrongly ahead) repeats nothing.
            if last is not None and dt.timedelta(0) <= now - last.punched_at < self.dedupe:
                return ClockInResult(False, last, self.today(candidate.staff_id, now))
            local = now.astimezone(self.tz)
            punch_id = uuid_mod.uuid4()
            snapshot = self._snapshot_name(punch_id, local.date(), candidate.snapshot_jpeg)
            record = PunchRecord(
                punch_id, candidate.staff_id, candidate.staff_no[:STAFF_NO_MAX],
                candidate.name[:NAME_MAX], now, local.date(), local.strftime("%H:%M:%S"),
                self.device_id, candidate.score, candidate.source, snapshot, candidate.status,
            )
            self.journal.append(record.to_journal())  # durable from here on
            self._last[candidate.staff_id] = record
        # The punch counts now; its snapshot is evidence written after it, and may fail alone.
        if snapshot is not None and not self._save_snapshot(snapshot, candidate.snapshot_jpeg):
            self.journal.forget_snapshot(str(punch_id))
            record = dataclasses.replace(record, snapshot_file=None)
        result = ClockInResult(True, record, self.today(candidate.staff_id, now))
        # Last: the flush this wakes must not compete with this confirm's own query.
        if self.on_batch_full is not None and self.journal.pending_count() >= self.flush_batch:
            self.on_batch_full()
        return result

    def warm_up(self) -> None:
        """Compile and cache confirm's queries, so the first person after a start waits no longer."""
        now = self._clock()
        self._latest(-1, now)
        self._last.pop(-1, None)
        self.today(-1, now)

    def today(self, staff_id: int, now: dt.datetime | None = None) -> tuple[PunchRecord, ...]:
        """This person's punches on the terminal's current date: stored ones and journaled ones."""
        now = now or self._clock()
        day = now.astimezone(self.tz).date()
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(*_RECORD_COLUMNS).where(
                Punch.staff_id == staff_id, Punch.local_date == day)).all()
        found = {r.uuid: PunchRecord.from_row(r, self.tz) for r in rows}
        for raw in self.journal.pending():
            if raw["staff_id"] == staff_id and raw["local_date"] == day.isoformat():
                rec = PunchRecord.from_journal(raw)
                found.setdefault(rec.uuid, rec)
        return tuple(sorted(found.values(), key=lambda r: r.punched_at))

    def _latest(self, staff_id: int, now: dt.datetime) -> PunchRecord | None:
        """This person's newest punch not dated after now (stored within the window, or journaled)."""
        cached = self._last.get(staff_id)
        if cached is not None and cached.punched_at <= now:
            return cached
        since = (now - self.dedupe).replace(tzinfo=None)
        with self.store.engine.connect() as conn:
            row = conn.execute(select(*_RECORD_COLUMNS).where(
                Punch.staff_id == staff_id, Punch.punched_at >= since,
                Punch.punched_at <= now.replace(tzinfo=None))
                .order_by(Punch.punched_at.desc()).limit(1)).first()
        best = PunchRecord.from_row(row, self.tz) if row is not None else None
        for raw in self.journal.pending():
            if raw["staff_id"] == staff_id:
                rec = PunchRecord.from_journal(raw)
                if rec.punched_at <= now and (best is None or rec.punched_at > best.punched_at):
                    best = rec
        return best

    def _snapshot_name(self, punch_id, day: dt.date, jpeg: bytes | None) -> str | None:
        if not jpeg or self.snapshots_dir is None:
            return None
        return f"{day.isoformat()}/{punch_id.hex}.jpg"

    def _save_snapshot(self, relative: str, jpeg: bytes) -> bool:
        """Write the snapshot (not synced: evidence, not the punch); False when the disk refuses."""
        path = self.snapshots_dir / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg)
        except OSError as exc:
            try:
                path.unlink(missing_ok=True)  # a partial JPEG is no evidence and takes space
            except OSError:
                pass
            logger.warning("snapshot {} not saved ({}): the punch is recorded without it", relative, exc)
            return False
        return True

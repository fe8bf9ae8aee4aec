"""PunchFlusher: move journaled punches into the database in batches, through the PunchWriter.

Exactly once: a batch leaves the journal only after its transaction committed, and a batch
stored again (a crash between the commit and the journal's mark) inserts nothing new, because
the writer skips punches whose uuid is already stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger

from .journal import PunchJournal, is_disk_full
from .punches import PunchWriter
from .records import PunchRecord


class PunchFlusher:
    def __init__(self, writer: PunchWriter, journal: PunchJournal, *, batch_size: int = 20,
                 after_flush: Callable[[int], None] | None = None):
        self.writer, self.journal = writer, journal
        self.store = writer.store
        self.batch_size = batch_size
        self.after_flush = after_flush
        self.disk_full = False  # the last flush failed for lack of space: punches wait in the journal
        self._lock = threading.Lock()

    def flush(self) -> int:
        """Store every journaled record; the number of punches newly inserted."""
        total, stored = self._flush_once()
        # Punches that arrived meanwhile and already fill a batch go now, not at the next tick.
        while stored and self.journal.pending_count() >= self.batch_size:
            inserted, stored = self._flush_once()
            total += inserted
        return total

    def _flush_once(self) -> tuple[int, bool]:
        with self._lock:
            sealed = self.journal.seal()
            inserted: list[int] = []
            if sealed.records:
                try:
                    inserted = self._store(sealed)
                except Exception as exc:
                    if not is_disk_full(exc):
                        raise
                    # Nothing is lost: the records stay journaled and the next flush retries.
                    if not self.disk_full:
                        logger.error("flush: the disk is full, {} punches wait in the journal: {}",
                                     len(sealed.records), exc)
                    self.disk_full = True
                    return 0, False
            # Only a committed batch may leave the journal.
            self.journal.discard(sealed)
            if self.disk_full and sealed.records:
                logger.info("flush: storing again after a full disk")
                self.disk_full = False
        if sealed.records:
            logger.debug("flush: {} journaled, {} new", len(sealed.records), len(inserted))
        if inserted and self.after_flush is not None:
            self.after_flush(len(inserted))
        return len(inserted), True

    @property
    def push_enabled(self) -> bool:
        """Whether what this flush stores is queued for HR (the writer's outbox rule)."""
        return self.writer.push_enabled

    def _store(self, sealed) -> list[int]:
        with self.store.session() as s:
            return self.writer.write(s, (PunchRecord.from_journal(r) for r in sealed.records))

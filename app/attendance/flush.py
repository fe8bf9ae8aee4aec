"""PunchFlusher: move journaled punches into the database (and the push outbox) in batches."""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger
from sqlalchemy import select

from app.store import OutboxItem, Punch, Staff, Store

from .journal import PunchJournal, is_disk_full
from .records import PunchRecord

_INSERT_CACHE: dict[str, object] = {}


def _insert_statement(dialect: str):
    # One statement, compiled once and run as an executemany ("insertmanyvalues"): far less
    # Python work per flush than a fresh multi-row VALUES, so confirm seldom waits on the GIL.
    stmt = _INSERT_CACHE.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(Punch).on_conflict_do_nothing(index_elements=["uuid"]).returning(Punch.id)
        _INSERT_CACHE[dialect] = stmt
    return stmt


def insert_punches(store: Store, session, rows: list[dict]) -> list[int]:
    """INSERT ... ON CONFLICT (uuid) DO NOTHING; the ids of the rows actually inserted."""
    if not rows:
        return []
    connection = session.connection()
    return list(connection.execute(_insert_statement(store.dialect), rows).scalars())


class PunchFlusher:
    def __init__(self, store: Store, journal: PunchJournal, *, push_enabled: bool = False,
                 batch_size: int = 20, after_flush: Callable[[int], None] | None = None):
        self.store, self.journal = store, journal
        self.batch_size = batch_size
        self.push_enabled = push_enabled
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

    def _store(self, sealed) -> list[int]:
        rows = [PunchRecord.from_journal(r).to_row() for r in sealed.records]
        with self.store.session() as s:
            # A person deleted between confirm and flush keeps the punch, unlinked.
            wanted = {r["staff_id"] for r in rows if r["staff_id"] is not None}
            known = set(s.scalars(select(Staff.id).where(Staff.id.in_(wanted)))) if wanted else set()
            for r in rows:
                if r["staff_id"] not in known:
                    r["staff_id"] = None
            inserted = insert_punches(self.store, s, rows)
            if self.push_enabled and inserted:
                s.add_all(OutboxItem(punch_id=i) for i in sorted(inserted))
        return inserted

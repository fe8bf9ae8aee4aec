"""PunchWriter: the one way a punch enters the database, with its outbox row and its audit entry.

Every source of punches writes through here -- the journal flush of confirmed face punches
(:class:`~app.attendance.flush.PunchFlusher`), an approved make-up (补卡, ``admin.makeup``),
later imports and other devices -- so one rule decides for all of them:

- **the row**: ``INSERT ... ON CONFLICT (uuid) DO NOTHING``: a record written twice (a flush
  replayed after a crash) is stored once, and only the rows actually inserted count; a punch
  whose staff member was deleted meanwhile is kept, unlinked (``staff_id`` NULL);
- **the outbox**: a punch newly stored while push is on gets one outbox row (in id order, so HR
  receives punches in the order they were stored); a duplicate, or a punch stored while push is
  off, gets none;
- **the payload**: built at delivery from the stored row (:class:`~app.attendance.push.WebhookPusher`
  with :meth:`PunchRecord.from_row`): the punch's stored local date (the terminal's zone when it
  was made) and its local time in the terminal's zone;
- **the audit**: when the caller names an action, its entry is written in the same transaction
  as the punch (make-ups); face punches are recorded by the journal instead.

Lives in ``app.attendance`` rather than ``app.services``: the flusher here uses it, and
``app.services`` composes attendance, so a writer above would make attendance import upward.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.store import OutboxItem, Punch, Staff, Store

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


@dataclass(frozen=True)
class PunchAudit:
    """An audit entry to write with the punch: who, what, and details (the punch id is added)."""

    actor: str
    action: str
    detail: dict = field(default_factory=dict)


class PunchWriter:
    """Writes punches, their outbox rows while push is on, and their audit entries.

    ``push_enabled`` follows ``push.webhook_url``: the terminal's scheduler switches it when the
    setting changes (``AttendanceScheduler.sync``); a standalone admin builds a writer with the
    stored setting.
    """

    def __init__(self, store: Store, *, push_enabled: bool = False):
        self.store = store
        self.push_enabled = push_enabled

    def write(self, session, records: Iterable[PunchRecord], *,
              audit: PunchAudit | None = None) -> list[int]:
        """Store ``records`` in ``session``'s transaction; the ids of the punches newly inserted.

        The caller commits (the session's block): the punches, their outbox rows and the audit
        entry are one transaction, so none of them exists without the others.
        """
        rows = [r.to_row() for r in records]
        # A person deleted between the punch and its write keeps the punch, unlinked.
        wanted = {r["staff_id"] for r in rows if r["staff_id"] is not None}
        known = set(session.scalars(select(Staff.id).where(Staff.id.in_(wanted)))) if wanted else set()
        for r in rows:
            if r["staff_id"] not in known:
                r["staff_id"] = None
        inserted = insert_punches(self.store, session, rows)
        if self.push_enabled and inserted:
            session.add_all(OutboxItem(punch_id=i) for i in sorted(inserted))
        if audit is not None:
            ids = {"punch": inserted[0] if inserted else None} if len(rows) == 1 else {"punches": inserted}
            self.store.audit(session, audit.actor, audit.action, **audit.detail, **ids)
        return inserted

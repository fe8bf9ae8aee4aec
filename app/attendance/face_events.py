"""Stranger and spoof records (issue 25): the face_events table read, listed and trimmed.

A record is written by the terminal (app/services/face_events.py) when a face is not recognised
or is refused by liveness, once per person in front of the camera. Days are the stored
terminal-local dates, as for punches (app/attendance/queries.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from sqlalchemy import delete, func, select

from app.store import FaceEvent, Staff, Store
from app.store.models import FACE_EVENT_KINDS

BATCH = 2000


@dataclass(frozen=True)
class EventRow:
    id: int
    at: dt.datetime            # naive UTC
    local_date: dt.date
    kind: str
    device_id: str
    reason: str
    similarity: float | None
    candidate_staff_no: str | None
    candidate_name: str | None
    snapshot_file: str | None


@dataclass(frozen=True)
class EventFilter:
    """Days (inclusive, terminal-local dates) and optionally one kind."""

    first: dt.date
    last: dt.date
    kind: str = ""

    def __post_init__(self):
        if self.kind and self.kind not in FACE_EVENT_KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")

    def where(self) -> list:
        clauses = [FaceEvent.local_date >= self.first, FaceEvent.local_date <= self.last]
        if self.kind:
            clauses.append(FaceEvent.kind == self.kind)
        return clauses


def _select():
    return (select(FaceEvent.id, FaceEvent.at, FaceEvent.local_date, FaceEvent.kind, FaceEvent.device_id,
                   FaceEvent.reason, FaceEvent.similarity, Staff.staff_no, Staff.name, FaceEvent.snapshot_file)
            .outerjoin(Staff, Staff.id == FaceEvent.candidate_staff_id))


def count(store: Store, f: EventFilter) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(FaceEvent).where(*f.where())) or 0


def listed(store: Store, f: EventFilter, *, offset: int = 0, limit: int = 50) -> list[EventRow]:
    """Newest first."""
    with store.session() as s:
        rows = s.execute(_select().where(*f.where()).order_by(FaceEvent.at.desc(), FaceEvent.id.desc())
                         .offset(offset).limit(limit)).all()
    return [EventRow(*r) for r in rows]


def iter_listed(store: Store, f: EventFilter) -> Iterator[EventRow]:
    """Every record of the filter, oldest first, read batch by batch (an export of any size)."""
    after = 0
    while True:
        with store.session() as s:
            rows = s.execute(_select().where(*f.where(), FaceEvent.id > after).order_by(FaceEvent.id)
                             .limit(BATCH)).all()
        if not rows:
            return
        for r in rows:
            yield EventRow(*r)
        after = rows[-1][0]


def get(store: Store, event_id: int) -> EventRow | None:
    with store.session() as s:
        row = s.execute(_select().where(FaceEvent.id == event_id)).first()
    return EventRow(*row) if row is not None else None


def delete_before(store: Store, snapshots_dir: Path | None, cutoff: dt.datetime, actor: str = "scheduler") -> int:
    """Delete records taken before ``cutoff`` (naive UTC) and their snapshots; the count deleted."""
    total, files = 0, []
    while True:
        with store.session() as s:
            rows = s.execute(select(FaceEvent.id, FaceEvent.snapshot_file).where(FaceEvent.at < cutoff)
                             .order_by(FaceEvent.id).limit(BATCH)).all()
            if not rows:
                if total:
                    store.audit(s, actor, "face_events_retention", deleted=total, before=cutoff)
                break
            s.execute(delete(FaceEvent).where(FaceEvent.id.in_([r.id for r in rows])))
        total += len(rows)
        files.extend(r.snapshot_file for r in rows if r.snapshot_file)
    # files after rows: a crash leaves orphan files, never records pointing at nothing
    for name in files:
        path = snapshot_path(snapshots_dir, name) if snapshots_dir is not None else None
        if path is not None:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()   # the day's folder, once empty
            except OSError:
                pass
    if total:
        logger.info("retention: deleted {} stranger/spoof records before {} UTC", total, cutoff)
    return total


def snapshot_path(snapshots_dir: Path, name: str | None) -> Path | None:
    """Where a stored snapshot is, only if that is a file inside the snapshots folder (symlinks
    resolved): a stored name is never trusted to stay inside it."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or ".." in Path(name).parts:
        return None
    root = Path(snapshots_dir).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path

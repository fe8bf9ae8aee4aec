"""Retention: delete old punches (and their snapshots) on a schedule, or a range on request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from loguru import logger
from sqlalchemy import delete, select

from app.store import Punch, Store

BATCH = 5000


class RetentionService:
    def __init__(self, store: Store, snapshots_dir: Path | None, *, days: int):
        self.store, self.snapshots_dir, self.days = store, snapshots_dir, days

    def run(self, now: dt.datetime | None = None, actor: str = "scheduler") -> int:
        """Delete punches older than ``days``; 0 days keeps everything."""
        if self.days <= 0:
            return 0
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
        cutoff = now - dt.timedelta(days=self.days)
        count = self._delete(None, cutoff, actor, "retention", days=self.days)
        logger.info("retention: deleted {} punches before {} UTC ({} days)", count, cutoff, self.days)
        return count

    def clear_range(self, start: dt.datetime, end: dt.datetime, actor: str) -> int:
        """Delete punches with ``start <= punched_at < end`` (aware datetimes or naive UTC)."""
        utc = [t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t for t in (start, end)]
        if utc[1] <= utc[0]:
            raise ValueError("the end of the range must be after its start")
        count = self._delete(utc[0], utc[1], actor, "clear_range")
        logger.info("clear: {} deleted {} punches in [{}, {}) UTC", actor, count, *utc)
        return count

    def _delete(self, start, end, actor: str, action: str, **detail) -> int:
        where = [Punch.punched_at < end] + ([Punch.punched_at >= start] if start else [])
        total, snapshots = 0, []
        while True:
            with self.store.session() as s:
                rows = s.execute(select(Punch.id, Punch.snapshot_file).where(*where)
                                 .order_by(Punch.id).limit(BATCH)).all()
                if not rows:
                    self.store.audit(s, actor, action, deleted=total, start=start, end=end, **detail)
                    break
                s.execute(delete(Punch).where(Punch.id.in_([r.id for r in rows])))
            total += len(rows)
            snapshots.extend(r.snapshot_file for r in rows if r.snapshot_file)
        # Files go after the rows are gone: a crash leaves orphan files, never dangling rows.
        for name in snapshots:
            self._remove_snapshot(name)
        return total

    def _remove_snapshot(self, name: str) -> None:
        if self.snapshots_dir is None:
            return
        path = (self.snapshots_dir / name).resolve()
        if self.snapshots_dir.resolve() not in path.parents:
            logger.warning("retention: refusing snapshot path outside the folder: {}", name)
            return
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # the day's folder, once empty
        except OSError:
            pass

"""Retention: delete old punches (and their snapshots) on a schedule, or a range on request.

The same scheduled run deletes the stranger and spoof records (``face_events``, issue 25) older
than ``event_days`` with their snapshots, under the same clock checks.

A scheduled run trusts the clock only when it agrees with what the terminal knows, because a
clock set wrongly ahead (an ``update_sys_time`` typo: 2036 for 2026) would delete every punch.
A run is refused -- nothing deleted, a warning logged, an audit entry written and ``hold`` set
for the admin's status -- when:

1. the newest stored punch is dated more than ``CLOCK_TOLERANCE`` after now: the clock is behind
   the records (it was ahead when they were taken, or it is behind now); it runs again once the
   clock has passed them or the wrongly dated punches are corrected;
2. the clock jumped while the terminal ran: between two checks the wall clock moved more than
   ``CLOCK_TOLERANCE`` away from the monotonic clock (which no one can set);
3. now is more than ``MAX_GAP`` after the last successful run (kept in ``state_path``): the
   clock jumped while the terminal was off, or it was off that long.

After 2 or 3 the new clock is held in quarantine: runs are refused until it has run steadily
(measured on the monotonic clock) for ``HOLD``, which gives the admin time to see the warning
and correct the clock; a correction is another jump and starts the hold again. A clear by range
(the admin's ``clear_data``) names its range explicitly and is never refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger
from sqlalchemy import delete, func, select

from app.store import Punch, Store

from . import face_events

BATCH = 5000
CLOCK_TOLERANCE = dt.timedelta(minutes=10)
MAX_GAP = dt.timedelta(days=3)   # the job runs daily: a longer silence needs explaining
HOLD = dt.timedelta(days=3)


class RetentionService:
    def __init__(self, store: Store, snapshots_dir: Path | None, *, days: int, event_days: int = 0,
                 state_path: Path | None = None, clock: Callable[[], dt.datetime] | None = None,
                 monotonic: Callable[[], float] | None = None):
        self.store, self.snapshots_dir, self.days = store, snapshots_dir, days
        self.event_days = event_days   # stranger/spoof records; 0 keeps them
        self.state_path = state_path
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._monotonic = monotonic or time.monotonic
        self._reference = (self._clock().astimezone(dt.UTC), self._monotonic())
        self._suspect: tuple[float, dict] | None = None  # (monotonic time, why) of a doubtful clock
        self.hold: dict | None = None  # why the last scheduled run was refused; None when it ran

    def run(self, now: dt.datetime | None = None, actor: str = "scheduler") -> int:
        """Delete punches older than ``days`` (0 keeps them) and stranger/spoof records older than
        ``event_days`` (0 keeps them); refused across a clock jump. The punches deleted."""
        if self.days <= 0 and self.event_days <= 0:
            return 0
        now = (now or self._clock()).astimezone(dt.UTC)
        why = self._doubt(now)
        if why is not None:
            self._refuse(why, actor)
            return 0
        self.hold = None
        count = 0
        if self.days > 0:
            cutoff = now.replace(tzinfo=None) - dt.timedelta(days=self.days)
            count = self._delete(None, cutoff, actor, "retention", days=self.days)
            logger.info("retention: deleted {} punches before {} UTC ({} days)", count, cutoff, self.days)
        if self.event_days > 0:
            face_events.delete_before(self.store, self.snapshots_dir,
                                      now.replace(tzinfo=None) - dt.timedelta(days=self.event_days), actor)
        self._save_last_run(now)
        return count

    # -- clock checks --------------------------------------------------------------------------
    def _doubt(self, now: dt.datetime) -> dict | None:
        """Why the clock cannot be trusted to delete by age now, or None."""
        mono = self._monotonic()
        with self.store.session() as s:
            newest = s.scalar(select(func.max(Punch.punched_at)))
        if newest is not None and newest.replace(tzinfo=dt.UTC) > now + CLOCK_TOLERANCE:
            return {"reason": "future_punch", "now_utc": now.isoformat(),
                    "detail": f"the newest punch is dated {newest.isoformat(' ', 'seconds')} UTC, "
                              f"after the clock ({now.isoformat(' ', 'seconds')} UTC)"}
        ref_wall, ref_mono = self._reference
        self._reference = (now, mono)
        drift = (now - ref_wall) - dt.timedelta(seconds=mono - ref_mono)
        if abs(drift) > CLOCK_TOLERANCE:
            self._suspect = (mono, {"reason": "clock_jump", "now_utc": now.isoformat(),
                                    "detail": f"the clock was set {_span(drift)} "
                                              f"{'ahead' if drift > dt.timedelta(0) else 'back'} "
                                              f"while the terminal ran"})
        accepted = False
        if self._suspect is not None:
            since, why = self._suspect
            if mono - since < HOLD.total_seconds():
                return why
            self._suspect, accepted = None, True  # steady for the whole hold: the clock is taken as set
        last = self._last_run()
        if not accepted and last is not None and now - last > MAX_GAP:
            why = {"reason": "long_gap", "now_utc": now.isoformat(),
                   "detail": f"the clock is {_span(now - last)} past the last retention run "
                             f"({last.isoformat(' ', 'seconds')} UTC)"}
            self._suspect = (mono, why)
            return why
        return None

    def _refuse(self, why: dict, actor: str) -> None:
        fresh = self.hold is None or self.hold.get("detail") != why["detail"]
        self.hold = dict(why, days=self.days, hold_days=HOLD.days)
        logger.warning("retention refused, nothing deleted: {}; check the system clock (runs again "
                       "after the clock has run steadily for {} days)", why["detail"], HOLD.days)
        if fresh:
            try:
                with self.store.session() as s:
                    self.store.audit(s, actor, "retention_refused", reason=why["reason"], detail=why["detail"])
            except Exception:  # the refusal itself must not fail the job (a full disk)
                logger.exception("retention: could not audit the refusal")

    def _last_run(self) -> dt.datetime | None:
        if self.state_path is None:
            return None
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            return dt.datetime.fromisoformat(data["last_run_utc"]).astimezone(dt.UTC)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("retention: unreadable state {} ({}): treated as a first run", self.state_path, exc)
            return None

    def _save_last_run(self, now: dt.datetime) -> None:
        if self.state_path is None:
            return
        tmp = self.state_path.with_suffix(".new")
        try:
            tmp.write_text(json.dumps({"last_run_utc": now.isoformat()}), encoding="utf-8")
            os.replace(tmp, self.state_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            logger.warning("retention: cannot save its state {}: {}", self.state_path, exc)

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


def _span(delta: dt.timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 60:.0f} minutes"

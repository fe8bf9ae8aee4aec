"""Retention: old punches and their snapshots go, each run audited; clear by range."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from app.attendance import RetentionService
from app.store import AuditEntry, Punch

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


class Clocks:
    """A wall clock someone can set and a monotonic clock no one can, advancing together."""

    def __init__(self, at=NOW):
        self.at, self.mono = at, 1000.0

    def wall(self):
        return self.at

    def monotonic(self):
        return self.mono

    def advance(self, **kw):
        step = dt.timedelta(**kw)
        self.at += step
        self.mono += step.total_seconds()

    def set_wall(self, at):  # the system time changed: the monotonic clock does not move
        self.at = at


def _service(store, instance, clocks, days=400, state=True):
    return RetentionService(store, instance.snapshots_dir, days=days, clock=clocks.wall,
                            monotonic=clocks.monotonic,
                            state_path=instance.root / "retention.json" if state else None)


def _seed(store, instance, ages_days):
    with store.session() as s:
        for i, age in enumerate(ages_days):
            at = (NOW - dt.timedelta(days=age)).replace(tzinfo=None)
            snap = f"{at.date()}/{i}.jpg"
            path = instance.snapshots_dir / snap
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"jpeg")
            s.add(Punch(uuid=__import__("uuid").uuid4(), staff_no=f"S{i}", name="x", punched_at=at,
                        local_date=at.date(), device_id="t", source="face", snapshot_file=snap))


def _left(store):
    with store.session() as s:
        return sorted(s.scalars(select(Punch.staff_no)))


def test_run_deletes_punches_and_snapshots_older_than_the_limit(store, instance):
    _seed(store, instance, [1, 399, 401, 800])
    service = _service(store, instance, Clocks())
    assert service.run() == 2
    assert _left(store) == ["S0", "S1"]
    files = sorted(p.name for p in instance.snapshots_dir.rglob("*.jpg"))
    assert files == ["0.jpg", "1.jpg"]
    with store.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention")).one()
    assert json.loads(entry.detail)["deleted"] == 2 and entry.actor == "scheduler"
    assert service.run() == 0 and service.hold is None


def test_zero_days_keeps_everything(store, instance):
    _seed(store, instance, [5000])
    assert _service(store, instance, Clocks(), days=0).run() == 0
    assert _left(store) == ["S0"]


def test_clear_range(store, instance):
    _seed(store, instance, [1, 2, 3, 4])
    service = RetentionService(store, instance.snapshots_dir, days=400)
    start, end = NOW - dt.timedelta(days=3, hours=1), NOW - dt.timedelta(days=1, hours=1)
    assert service.clear_range(start, end, actor="admin:li") == 2
    assert _left(store) == ["S0", "S3"]
    with store.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "clear_range")).one()
    assert entry.actor == "admin:li"
    with pytest.raises(ValueError):
        service.clear_range(end, start, actor="admin:li")


def _seed_at(store, *times):
    with store.session() as s:
        for i, at in enumerate(times):
            at = at.astimezone(dt.UTC).replace(tzinfo=None)
            s.add(Punch(uuid=uuid.uuid4(), staff_no=f"T{i}", name="x", punched_at=at,
                        local_date=at.date(), device_id="t", source="face"))


def _refusals(store):
    with store.session() as s:
        return [json.loads(e.detail)["reason"] for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action == "retention_refused"))]


def test_a_clock_set_ahead_while_running_deletes_nothing(store, instance):
    """The update_sys_time typo: 2036 for 2026, then the daily job fires (missed runs run at once)."""
    clocks = Clocks()
    _seed_at(store, NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=2))
    service = _service(store, instance, clocks, days=400)
    clocks.advance(hours=20)
    assert service.run() == 0 and service.hold is None         # an ordinary day
    clocks.advance(hours=1)
    clocks.set_wall(dt.datetime(2036, 11, 24, 21, tzinfo=dt.UTC))
    assert service.run() == 0                                   # would have deleted both
    assert _left(store) == ["T0", "T1"]
    assert service.hold["reason"] == "clock_jump" and "ahead" in service.hold["detail"]
    assert _refusals(store) == ["clock_jump"]
    # still held the next day, and after a restart with the clock still wrong (the last run is
    # ten years back)
    clocks.advance(days=1)
    assert service.run() == 0 and _left(store) == ["T0", "T1"]
    restarted = _service(store, instance, clocks, days=400)
    assert restarted.run() == 0 and restarted.hold["reason"] == "long_gap"
    assert _left(store) == ["T0", "T1"]


def test_punches_dated_after_now_stop_retention_until_the_clock_passes_them(store, instance):
    clocks = Clocks()
    _seed_at(store, NOW - dt.timedelta(days=500), dt.datetime(2036, 12, 4, 1, tzinfo=dt.UTC))
    service = _service(store, instance, clocks, days=400)
    assert service.run() == 0
    assert service.hold["reason"] == "future_punch" and "2036-12-04 01:00:00" in service.hold["detail"]
    assert len(_left(store)) == 2
    # the admin clears the wrongly dated punch: the next run goes ahead
    service.clear_range(dt.datetime(2036, 1, 1, tzinfo=dt.UTC), dt.datetime(2037, 1, 1, tzinfo=dt.UTC),
                        actor="admin:li")
    clocks.advance(days=1)
    assert service.run() == 1 and service.hold is None and _left(store) == []


def test_a_long_gap_is_held_then_trusted_once_the_clock_ran_steadily(store, instance):
    clocks = Clocks()
    _seed_at(store, NOW - dt.timedelta(days=401), NOW - dt.timedelta(days=300))
    assert _service(store, instance, clocks, days=400).run() == 1   # the last run is recorded
    clocks.advance(days=1)
    clocks.set_wall(clocks.at + dt.timedelta(days=150))             # off for five months
    service = _service(store, instance, clocks, days=400)
    assert service.run() == 0 and service.hold["reason"] == "long_gap"
    clocks.advance(days=1)
    assert service.run() == 0                                         # still in its hold
    clocks.advance(days=2, minutes=1)
    assert service.run() == 1 and service.hold is None               # three steady days: trusted
    clocks.advance(days=1)
    assert service.run() == 0 and service.hold is None


def test_a_jump_smaller_than_the_tolerance_is_ignored(store, instance):
    clocks = Clocks()
    _seed_at(store, NOW - dt.timedelta(days=401))
    service = _service(store, instance, clocks, days=400)
    clocks.advance(hours=5)
    clocks.set_wall(clocks.at + dt.timedelta(minutes=9))  # an NTP step
    assert service.run() == 1 and service.hold is None


def test_the_standalone_admin_builds_retention_by_the_terminals_recipe(store, instance, make_config):
    """The admin alone (no terminal in its process) gets the terminal's retention service: the same
    snapshots folder and last-run state file, with the stored run-time ``storage.retention_days``."""
    from admin import create_app
    from app.attendance import open_attendance
    from app.services.settings import SettingsService

    config = make_config(storage={"retention_days": 400})
    clocks = Clocks()
    terminal = open_attendance(config, instance, store)
    terminal.retention._clock, terminal.retention._monotonic = clocks.wall, clocks.monotonic
    terminal.retention._reference = (clocks.wall(), clocks.monotonic())
    assert terminal.retention.run() == 0   # a run: its time is saved in the instance's state file
    terminal.journal.close()
    SettingsService(store, config).set("storage.retention_days", 30, actor="test")

    svc = create_app(config, instance, store=store).extensions["daka_admin"]
    standalone = svc.retention()
    assert standalone.days == 30
    assert standalone._last_run() == NOW   # it knows the terminal's last run (a long gap is a doubt)
    assert standalone.snapshots_dir == instance.snapshots_dir

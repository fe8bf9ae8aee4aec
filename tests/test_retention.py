"""Retention: old punches and their snapshots go, each run audited; clear by range."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from app.attendance import RetentionService
from app.store import AuditEntry, Punch

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


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
    service = RetentionService(store, instance.snapshots_dir, days=400)
    assert service.run(NOW) == 2
    assert _left(store) == ["S0", "S1"]
    files = sorted(p.name for p in instance.snapshots_dir.rglob("*.jpg"))
    assert files == ["0.jpg", "1.jpg"]
    with store.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention")).one()
    assert json.loads(entry.detail)["deleted"] == 2 and entry.actor == "scheduler"
    assert service.run(NOW) == 0


def test_zero_days_keeps_everything(store, instance):
    _seed(store, instance, [5000])
    assert RetentionService(store, instance.snapshots_dir, days=0).run(NOW) == 0
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

"""Clock-in: durable before confirm returns, dedupe window, today's punches, batched flush."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from app.attendance import Candidate, build_scheduler, open_attendance
from app.attendance.punches import insert_punches
from app.attendance.journal import decode_segment
from app.attendance.records import PunchRecord
from app.store import OutboxItem, Punch, Staff

T0 = dt.datetime(2026, 11, 24, 0, 59, 30, tzinfo=dt.UTC)  # 08:59:30 in Asia/Shanghai


class Clock:
    def __init__(self, at=T0):
        self.at = at

    def __call__(self):
        return self.at

    def advance(self, **kw):
        self.at += dt.timedelta(**kw)


@pytest.fixture
def people(store):
    with store.session() as s:
        staff = [Staff(staff_no="HR0878", name="张三"), Staff(staff_no="HR0879", name="李四")]
        s.add_all(staff)
    return staff


@pytest.fixture
def attendance(store, instance, make_config):
    config = make_config(attendance={"dedupe_seconds": 60, "flush_batch": 3},
                         device={"id": "gate-1"})
    a = open_attendance(config, instance, store)
    a.clockin._clock = Clock()
    a.config = config
    yield a
    a.journal.close()


def _candidate(person, score=0.97, **kw):
    return Candidate(person.id, person.staff_no, person.name, score, **kw)


def _count(store):
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Punch))


def test_confirm_is_on_disk_before_it_returns_and_flush_stores_it(attendance, people, store, instance):
    result = attendance.clockin.confirm(_candidate(people[0]))
    assert result.recorded and result.message() == "打卡成功 08:59"
    assert result.message("en") == "Clocked in at 08:59"
    # What is on disk now (as after kill -9) holds the punch.
    on_disk = [r for p in sorted(instance.journal_dir.glob("*.jnl"))
               for r in decode_segment(p.read_bytes()).records]
    assert [r["uuid"] for r in on_disk] == [str(result.punch.uuid)]
    assert _count(store) == 0
    assert attendance.flusher.flush() == 1
    with store.session() as s:
        row = s.scalars(select(Punch)).one()
    assert (row.uuid, row.staff_no, row.name, row.device_id, row.source) == (
        result.punch.uuid, "HR0878", "张三", "gate-1", "face")
    assert row.punched_at == T0.replace(tzinfo=None) and row.local_date == dt.date(2026, 11, 24)
    assert attendance.journal.pending() == []
    # what stays in the active segment is marked stored: not replayed after a restart
    attendance.journal.close()
    restarted = open_attendance(attendance.config, instance, store)
    assert restarted.recover() == 0 and _count(store) == 1
    restarted.journal.close()


def test_a_repeat_within_the_window_is_not_recorded(attendance, people, store):
    clock = attendance.clockin._clock
    first = attendance.clockin.confirm(_candidate(people[0]))
    clock.advance(seconds=59)
    again = attendance.clockin.confirm(_candidate(people[0]))
    assert not again.recorded and again.punch.uuid == first.punch.uuid
    assert again.message() == "已于 08:59 打卡" and again.message("en") == "Already clocked in at 08:59"
    other = attendance.clockin.confirm(_candidate(people[1]))
    assert other.recorded
    attendance.flusher.flush()
    attendance.journal.close()
    # the window also holds across a restart (the punch is only in the database now)
    fresh = open_attendance(attendance.config, attendance.store.app.config["DAKA_INSTANCE"], store)
    fresh.clockin._clock = clock
    try:
        assert not fresh.clockin.confirm(_candidate(people[0])).recorded
        clock.advance(seconds=2)
        later = fresh.clockin.confirm(_candidate(people[0]))
        assert later.recorded and [p.uuid for p in later.today] == [first.punch.uuid, later.punch.uuid]
        fresh.flusher.flush()
    finally:
        fresh.journal.close()
    assert _count(store) == 3


def test_today_merges_stored_and_journaled_punches_of_that_person_and_day(attendance, people):
    clock = attendance.clockin._clock
    clock.at = dt.datetime(2026, 11, 23, 15, 59, tzinfo=dt.UTC)  # 23:59 local, the day before
    attendance.clockin.confirm(_candidate(people[0]))
    clock.advance(minutes=2)                                       # 00:01 local
    a = attendance.clockin.confirm(_candidate(people[0]))
    attendance.flusher.flush()
    clock.advance(hours=9)
    b = attendance.clockin.confirm(_candidate(people[0]))          # journaled only
    attendance.clockin.confirm(_candidate(people[1]))
    assert [p.uuid for p in b.today] == [a.punch.uuid, b.punch.uuid]
    assert [p.local_time[:5] for p in b.today] == ["00:01", "09:01"]


def test_flush_replay_never_duplicates(attendance, people, store, instance):
    for person in people:
        attendance.clockin.confirm(_candidate(person))
    sealed = attendance.journal.seal()
    # The process stored the batch and died before discarding the journal segment.
    with store.session() as s:
        insert_punches(store, s, [PunchRecord.from_journal(r).to_row() for r in sealed.records])
    attendance.journal.close()
    again = open_attendance(attendance.config, instance, store)
    assert again.recover() == 0
    assert _count(store) == 2 and again.journal.pending() == []
    again.journal.close()


def test_a_full_batch_asks_for_a_flush(attendance, people):
    calls = []
    attendance.clockin.on_batch_full = lambda: calls.append(attendance.journal.pending_count())
    clock = attendance.clockin._clock
    for _ in range(3):
        attendance.clockin.confirm(_candidate(people[0]))
        clock.advance(seconds=61)
    assert calls == [3]


def test_staff_deleted_before_the_flush_keeps_the_punch(attendance, people, store):
    attendance.clockin.confirm(_candidate(people[0]))
    with store.session() as s:
        s.delete(s.get(Staff, people[0].id))
    assert attendance.flusher.flush() == 1
    with store.session() as s:
        assert s.scalars(select(Punch.staff_id)).one() is None


def test_snapshot_is_saved_beside_the_punch(attendance, people, instance):
    result = attendance.clockin.confirm(_candidate(people[0], snapshot_jpeg=b"\xff\xd8fake\xff\xd9"))
    path = instance.snapshots_dir / result.punch.snapshot_file
    assert path.read_bytes() == b"\xff\xd8fake\xff\xd9"


def _scheduled(store, instance, make_config, **attendance):
    config = make_config(attendance={"dedupe_seconds": 0, **attendance})
    a = open_attendance(config, instance, store)
    scheduler = build_scheduler(config, a)
    scheduler.start()
    return a, scheduler


def _wait_count(store, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _count(store) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_scheduler_flushes_a_full_batch_at_once(store, instance, make_config, people):
    """The interval is ten minutes away: only the full batch can have flushed these punches."""
    a, scheduler = _scheduled(store, instance, make_config, flush_seconds=600, flush_batch=3)
    assert {j.id for j in scheduler.get_jobs()} == {"attendance.flush", "attendance.retention"}
    try:
        for _ in range(2):
            a.clockin.confirm(_candidate(people[0]))
        assert _count(store) == 0   # a partial batch waits (the interval's first run is 600 s away)
        a.clockin.confirm(_candidate(people[0]))
        _wait_count(store, 3)
        assert _count(store) == 3, "a full batch must flush at once"
    finally:
        scheduler.shutdown()
        a.journal.close()


def test_the_scheduler_flushes_a_lone_punch_on_time(store, instance, make_config, people):
    a, scheduler = _scheduled(store, instance, make_config, flush_seconds=1, flush_batch=100)
    try:
        a.clockin.confirm(_candidate(people[1]))
        _wait_count(store, 1)
        assert _count(store) == 1, "the interval must flush a lone punch"
    finally:
        scheduler.shutdown()
        a.journal.close()


def test_cleared_punches_stay_cleared_after_a_restart(store, instance, make_config, people):
    """clear_data (or retention) after a flush, then a restart: nothing replayed, nothing re-queued."""
    config = make_config(attendance={"dedupe_seconds": 0}, push={"webhook_url": "http://127.0.0.1:9/hr"})
    a = open_attendance(config, instance, store)
    clock = Clock()
    a.clockin._clock = clock
    try:
        for _ in range(3):
            a.clockin.confirm(_candidate(people[0]))
            clock.advance(seconds=5)
        assert a.flusher.flush() == 3
        assert a.retention.clear_range(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1), actor="test") == 3
    finally:
        a.journal.close()  # the terminal stops (or systemd restarts it)
    b = open_attendance(config, instance, store)
    try:
        assert b.journal.pending() == [] and b.recover() == 0
    finally:
        b.journal.close()
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Punch)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0


def test_a_punch_dated_in_the_future_repeats_nothing(attendance, people, store, instance):
    """A punch taken while the clock was wrongly ahead (2036) must not block that person later."""
    clock = attendance.clockin._clock
    clock.at = dt.datetime(2036, 12, 4, 1, 0, tzinfo=dt.UTC)
    wrong = attendance.clockin.confirm(_candidate(people[0]))
    assert wrong.recorded
    clock.at = T0  # the clock is corrected, the terminal keeps running
    fixed = attendance.clockin.confirm(_candidate(people[0]))
    assert fixed.recorded and fixed.message() == "打卡成功 08:59"
    clock.advance(seconds=10)
    again = attendance.clockin.confirm(_candidate(people[0]))   # a real repeat is still one
    assert not again.recorded and again.punch.uuid == fixed.punch.uuid
    attendance.flusher.flush()
    attendance.journal.close()
    # after a restart the 2036 punch is only in the database: it must not count there either
    b = open_attendance(attendance.config, instance, store)
    b.clockin._clock = clock
    try:
        assert not b.clockin.confirm(_candidate(people[0])).recorded  # 10 s after the corrected one
        clock.advance(seconds=61)
        assert b.clockin.confirm(_candidate(people[0])).recorded
        assert b.clockin.confirm(_candidate(people[1])).recorded
    finally:
        b.journal.close()


def test_confirm_without_the_snapshot_when_it_cannot_be_written(attendance, people, instance):
    # The snapshot folder replaced by a file: every snapshot write fails, as on a full disk.
    instance.snapshots_dir.rmdir()
    instance.snapshots_dir.write_bytes(b"")
    result = attendance.clockin.confirm(_candidate(people[0], snapshot_jpeg=b"\xff\xd8fake\xff\xd9"))
    assert result.recorded and result.punch.snapshot_file is None
    assert attendance.journal.pending()[0]["snapshot_file"] is None
    assert attendance.flusher.flush() == 1

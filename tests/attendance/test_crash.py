"""kill -9 at random moments while punches are confirmed and flushed: none lost, none doubled."""

from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.attendance import open_attendance
from app.store import OutboxItem, Punch, Staff
from tests.helpers.children import started

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]


def _argv(instance, url, staff_ids) -> list[str]:
    return [sys.executable, str(CHILD), str(instance.root), url or "-", ",".join(map(str, staff_ids))]


def crash_run(instance, make_config, store, url, kills: int, seed: int) -> dict:
    config = make_config(attendance={"flush_seconds": 1, "flush_batch": 5, "dedupe_seconds": 0},
                         push={"webhook_url": "http://127.0.0.1:9/unused"})
    with store.session() as s:
        staff = [Staff(staff_no=f"S{i:04d}", name=f"员工{i}") for i in range(1, 9)]
        s.add_all(staff)
    staff_ids = [p.id for p in staff]
    rng = random.Random(seed)
    confirmed: list[str] = []
    ready_kills = 0
    for _ in range(kills):
        with started(_argv(instance, url, staff_ids), env={"PYTHONPATH": str(REPO)}) as child:
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.0, 0.6))  # during start-up and recovery
            else:
                # while punching and flushing: after a number of confirmed punches (counted, not timed:
                # a loaded machine punches more slowly), then at a random moment
                punches = rng.randint(10, 40)
                child.wait_for(lambda: len(child.out) > punches, 120, f"{punches} punches")
                time.sleep(rng.uniform(0.0, 1.0))
            if child.proc.poll() is not None:
                pytest.fail(f"child exited by itself ({child.proc.returncode}): {child.log[-2000:]}")
        # started() killed it with SIGKILL and collected its output.
        # Only whole lines count: a UUID cut by the kill was never fully reported.
        done = [ln.strip() for ln in child.out if ln.endswith("\n")]
        ready_kills += bool(done and done[0] == "ready")
        confirmed.extend(u for u in done if u != "ready")
    # The next start recovers what the last run journaled.
    attendance = open_attendance(config, instance, store)
    attendance.recover()
    attendance.journal.close()
    with store.session() as s:
        stored = [str(u) for u in s.scalars(select(Punch.uuid))]
        outbox_rows = s.scalar(select(func.count()).select_from(OutboxItem))
        outbox_distinct = s.scalar(select(func.count(func.distinct(OutboxItem.punch_id))))
    missing = set(confirmed) - set(stored)
    assert len(confirmed) == len(set(confirmed)), "a UUID was reported twice"
    assert not missing, f"{len(missing)} confirmed punches lost, e.g. {sorted(missing)[:3]}"
    assert len(stored) == len(set(stored)), "a punch was stored twice"
    assert outbox_rows == outbox_distinct == len(stored), "outbox lost or doubled a punch"
    assert all(uuid.UUID(u) for u in confirmed)
    assert ready_kills >= kills // 2, "most kills should land after start-up, while punching"
    assert len(confirmed) > kills * 10, f"too few punches confirmed ({len(confirmed)}) to mean much"
    return {"kills": kills, "confirmed": len(confirmed), "stored": len(stored)}


def test_kill9_during_confirm_and_flush_loses_and_doubles_nothing(instance, make_config, store,
                                                                    database_url):
    result = crash_run(instance, make_config, store, database_url, kills=20, seed=4)
    print(result)


@pytest.mark.slow
def test_kill9_five_hundred_times(instance, make_config, store, database_url):
    crash_run(instance, make_config, store, database_url, kills=500, seed=500)

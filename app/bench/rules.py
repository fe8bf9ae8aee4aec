"""`daka bench rules`: the attendance rules' month for 1,000 staff (issue 24: ≤ 1 s).

A store with 1,000 staff in 10 departments, a 09:00–18:00 shift (grace 5 min, overtime after
30 min), a Monday–Friday schedule following China's calendar for everyone, a night shift for one
department, a leave for every 20th person, and two punches a working day at random minutes
around the shift's ends (some late, some early, some missing). Timed: the month's day statuses
(:func:`compute_days`) and the monthly report (:func:`month_report`), median of runs.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import time
import uuid
import zoneinfo
from pathlib import Path

from sqlalchemy import insert

from app.attendance import rules
from app.instance import Instance
from app.store import Punch, Staff, open_store
from app.store.pgserver import PostgresServer, find_bindir

STAFF = 1000
YEAR, MONTH = 2026, 3
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1000, out


def _seed(store, n: int) -> int:
    rnd = random.Random(24)
    with store.session() as s:   # a bulk insert skips the ORM event that numbers zk_uid: number them here
        s.execute(insert(Staff), [{"staff_no": f"{i:05d}", "name": f"员工{i}", "department": f"部门{i % 10}",
                                   "active": True, "zk_uid": i} for i in range(1, n + 1)])
    with store.session() as s:
        people = [(p.id, p.staff_no, p.name, p.department) for p in s.query(Staff).order_by(Staff.id)]
    day_shift = rules.save_shift(store, rules.ShiftSpec("白班", dt.time(9), dt.time(18), late_grace_min=5,
                                                        early_grace_min=5, overtime_after_min=30), "bench")
    night = rules.save_shift(store, rules.ShiftSpec("夜班", dt.time(20), dt.time(8)), "bench")
    everyone = rules.save_schedule(store, "标准", "weekly", [day_shift] * 5 + [None, None], "bench")
    nights = rules.save_schedule(store, "夜班", "weekly", [night] * 5 + [None, None], "bench")
    rules.assign_schedule(store, everyone, dt.date(2026, 1, 1), "bench")
    rules.assign_schedule(store, nights, dt.date(2026, 1, 1), "bench", department="部门9")
    first, last = rules.month_range(YEAR, MONTH)
    for sid, *_ in people[::20]:
        rules.add_leave(store, sid, first + dt.timedelta(days=9), first + dt.timedelta(days=10), "annual", "",
                        "bench")
    rows, count, day = [], 0, first - dt.timedelta(days=1)
    while day <= last + dt.timedelta(days=1):
        if day.weekday() < 5:
            for sid, no, name, dept in people:
                start, end = (20, 32) if dept == "部门9" else (9, 18)
                for hour, spread in ((start, (-15, 10)), (end, (-10, 60))):
                    if rnd.random() < 0.02:
                        continue  # a missed punch
                    local = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour,
                                                                                minutes=rnd.randint(*spread))
                    utc = local - dt.timedelta(hours=8)
                    rows.append({"uuid": uuid.uuid4(), "staff_id": sid, "staff_no": no, "name": name,
                                 "punched_at": utc, "local_date": local.date(), "device_id": "bench",
                                 "source": "face", "score": 0.9, "created_at": utc})
        if len(rows) >= 20000 or day >= last:
            with store.session() as s:
                s.execute(insert(Punch), rows)
            count += len(rows)
            rows = []
        day += dt.timedelta(days=1)
    return count


def _backend(config, url: str | None, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="daka-bench-rules-") as tmp:
        instance = Instance(Path(tmp) / "instance").prepare()
        store = open_store(config, instance, url=url)
        try:
            punches = _seed(store, STAFF)
            first, last = rules.month_range(YEAR, MONTH)
            now = dt.datetime(2030, 1, 1)
            days_ms, people = _median(lambda: rules.compute_days(store, first, last, TZ, now=now), repeat)
            report_ms, lines = _median(lambda: rules.month_report(store, YEAR, MONTH, TZ, now=now), repeat)
            one_ms, _ = _median(lambda: rules.month_report(store, YEAR, MONTH, TZ, now=now,
                                                           staff_ids=[people[len(people) // 2].staff_id]), repeat)
            statuses: dict[str, int] = {}
            for p in people:
                for d in p.days:
                    statuses[d.status] = statuses.get(d.status, 0) + 1
            return {"dialect": store.dialect, "staff": len(people), "punches": punches,
                    "person_days": sum(len(p.days) for p in people), "statuses": statuses,
                    "month_days_all_staff_ms": round(days_ms, 1),
                    "month_report_all_staff_ms": round(report_ms, 1),
                    "month_report_one_person_ms": round(one_ms, 2),
                    "absent_days": sum(x.absent_days for x in lines)}
        finally:
            store.dispose()


def run(config, *, repeat: int = 5, postgres: str = "auto") -> dict:
    results = {"sqlite": _backend(config, None, repeat)}
    if postgres == "off":
        return results
    if postgres != "auto":
        results["postgresql"] = _backend(config, postgres, repeat)
        return results
    bindir = find_bindir()
    if bindir is None:
        results["postgresql"] = {"skipped": "PostgreSQL binaries not found"}
        return results
    with tempfile.TemporaryDirectory(prefix="daka-bench-rules-pg-") as tmp:
        with PostgresServer(Path(tmp), bindir) as server:
            results["postgresql"] = _backend(config, server.create_database("bench"), repeat)
    return results

"""`daka bench store`: clock-in latency, flush throughput and range queries, SQLite and PostgreSQL.

Each figure sits beside a baseline measured in the same run:
- confirm (journal append + fdatasync + today's punches) against committing each punch straight
  into the database (what the seed's design would need to be as safe), and against a bare
  200-byte append + fdatasync (the floor of this disk);
- flush (one batched INSERT ... ON CONFLICT per 200 rows) against one INSERT + commit per punch;
- range queries with the indexes against the same queries with the punch indexes dropped.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, insert, select, text

from app.attendance import Candidate, build_scheduler, open_attendance
from app.attendance.journal import encode_record, spare_segment_path
from app.attendance.queries import PunchFilter, iter_rows, punch_columns, rows
from app.attendance.records import PunchRecord
from app.attendance.summary import person_days, person_days_grouped
from app.bench.timing import median_ms
from app.config import with_values
from app.instance import Instance
from app.store import Punch, Staff, open_store
from app.store.pgserver import PostgresServer, find_bindir

STAFF = 1000
MONTH_DAYS = 22  # working days of January 2026, two punches a day


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _timed(fn, repeat: int = 7) -> float:
    return median_ms(fn, repeat, warmup=1)


def _fsync_floor(folder: Path, n: int) -> list[float]:
    path = folder / "floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 200)
            os.fdatasync(fd)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return out


def _add_staff(store, n: int) -> list[Staff]:
    with store.session() as s:
        staff = [Staff(staff_no=f"B{i:05d}", name=f"员工{i}") for i in range(n)]
        s.add_all(staff)
    return staff


@contextmanager
def _running(config, instance, store, *, scheduled: bool = True):
    """Attendance as the terminal runs it (its jobs started when `scheduled`), no dedupe window."""
    attendance = open_attendance(config, instance, store)
    attendance.clockin.dedupe = dt.timedelta(0)
    scheduler = build_scheduler(config, attendance) if scheduled else None
    if scheduler:
        scheduler.start()
    try:
        yield attendance
    finally:
        if scheduler:
            scheduler.shutdown()
        attendance.close()


def _confirm(attendance, person: Staff):
    return attendance.clockin.confirm(Candidate(person.id, person.staff_no, person.name, 0.95))


def _confirm_run(config, instance, store, staff, n: int, *, pace_ms: float = 0.0,
                 scheduled: bool = True) -> list[float]:
    """Latencies (ms) of n confirms; the flush job runs alongside when `scheduled`."""
    rng = random.Random(1)
    latencies = []
    with _running(config, instance, store, scheduled=scheduled) as attendance:
        for i in range(n):
            p = rng.choice(staff)
            t0 = time.perf_counter()
            _confirm(attendance, p)
            latencies.append((time.perf_counter() - t0) * 1000)
            if not scheduled and i % config.attendance.flush_batch == config.attendance.flush_batch - 1:
                attendance.flusher.flush()  # between confirms, never during one
            if pace_ms:
                time.sleep(pace_ms / 1000)
    return latencies


def _bench_push(config, instance, store, staff, n: int = 20) -> dict:
    """Seconds from confirm until a listening webhook has the punch, flushing every second
    (target: the flush interval + 1 s; the flush wakes the delivery job at once). Confirms are
    spread over the flush tick's phase by a random pause."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrival: dict[str, float] = {}
    got = threading.Condition()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            now = time.monotonic()
            with got:
                for punch in json.loads(body)["punches"]:
                    arrival[punch["uuid"]] = now
                got.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hr"
    cfg = with_values(config, {"attendance.flush_seconds": 1, "push.webhook_url": url})
    rng = random.Random(2)
    seconds = []
    try:
        with _running(cfg, instance, store) as attendance:
            for _ in range(n):
                p = rng.choice(staff)
                t0 = time.monotonic()
                uid = str(_confirm(attendance, p).punch.uuid)
                with got:
                    if not got.wait_for(lambda: uid in arrival, timeout=60):
                        raise RuntimeError("a punch did not reach the webhook within 60 s")
                seconds.append(arrival[uid] - t0)
                time.sleep(rng.uniform(0.0, 1.0))
    finally:
        server.shutdown()
        server.server_close()
    return {"punches": n, "flush_seconds": 1, "target_s": 2.0,
            "p50_s": round(_percentile(seconds, 0.5), 3), "p95_s": round(_percentile(seconds, 0.95), 3),
            "max_s": round(max(seconds), 3)}


def _bench_confirm(config, instance, store, staff, n: int) -> dict:
    back_to_back = _confirm_run(config, instance, store, staff, n)
    paced = _confirm_run(config, instance, store, staff, n, pace_ms=20.0)
    quiet = _confirm_run(config, instance, store, staff, n, scheduled=False)
    direct = []
    for i in range(min(n, 300)):
        p = staff[i % len(staff)]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        t0 = time.perf_counter()
        with store.session() as s:
            s.add(Punch(uuid=uuid.uuid4(), staff_id=p.id, staff_no=p.staff_no, name=p.name,
                        punched_at=now, local_date=now.date(), device_id="bench", source="face"))
        direct.append((time.perf_counter() - t0) * 1000)

    def pct(values):
        return {"p50_ms": round(_percentile(values, 0.5), 3), "p99_ms": round(_percentile(values, 0.99), 3),
                "max_ms": round(max(values), 3)}
    return {
        "confirms": n,
        "paced_50_per_s_with_flush_job": pct(paced),
        "back_to_back_with_flush_job": pct(back_to_back),
        "back_to_back_flush_between": pct(quiet),
        "baseline_commit_each_punch": pct(direct),
    }


def _bench_flush(config, instance, store, staff, n: int) -> dict:
    """Replay n journaled punches (as after a long database outage) into the database."""
    now = dt.datetime.now(dt.UTC)
    segment = spare_segment_path(instance.journal_dir)  # after the flushed mark: replayed
    with segment.open("wb") as fh:
        for i in range(n):
            p = staff[i % len(staff)]
            at = now + dt.timedelta(milliseconds=i)
            fh.write(encode_record(PunchRecord(uuid.uuid4(), p.id, p.staff_no, p.name, at, at.date(),
                                               "08:00:00", "bench", 0.9, "face").to_journal()))
    attendance = open_attendance(config, instance, store)
    t0 = time.perf_counter()
    stored = attendance.flusher.flush()
    batched = time.perf_counter() - t0
    attendance.journal.close()
    rows = 1000
    t0 = time.perf_counter()
    for i in range(rows):
        p = staff[i % len(staff)]
        with store.session() as s:
            s.add(Punch(uuid=uuid.uuid4(), staff_id=p.id, staff_no=p.staff_no, name=p.name,
                        punched_at=now.replace(tzinfo=None), local_date=now.date(),
                        device_id="bench", source="face"))
    single = time.perf_counter() - t0
    return {"punches": stored, "punches_per_s": round(stored / batched),
            "baseline_commit_each_punches_per_s": round(rows / single)}


def _working_days(start: dt.date, n: int) -> list[dt.date]:
    days, day = [], start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _seed_punches(store, staff, days: int, start: dt.date) -> int:
    """Two punches a working day for each person (Monday to Friday), ``days`` working days."""
    rows, count = [], 0
    working = _working_days(start, days)
    for d, day in enumerate(working):
        for p in staff:
            for hour in (0, 10):  # 08:xx and 18:xx in Asia/Shanghai
                at = dt.datetime.combine(day, dt.time(hour, random.randrange(60)))
                rows.append({"uuid": uuid.uuid4(), "staff_id": p.id, "staff_no": p.staff_no,
                             "name": p.name, "punched_at": at, "local_date": day,
                             "device_id": "bench", "source": "face", "score": 0.9,
                             "created_at": at})
        if len(rows) >= 20000 or d == len(working) - 1:
            with store.session() as s:
                s.execute(insert(Punch), rows)
            count += len(rows)
            rows = []
    return count


def _queries(store, staff, month_start: dt.date) -> dict:
    month_end = month_start + dt.timedelta(days=31)
    month_last = month_end - dt.timedelta(days=1)
    person = staff[len(staff) // 2].id
    day = month_start + dt.timedelta(days=5)  # a Tuesday

    month = PunchFilter.days(month_start, month_last)

    def month_all():
        return rows(store, month)

    def month_all_columns():
        return punch_columns(store, month_start, month_last)

    def month_person_days():
        return person_days(store, month_start, month_last)

    def month_person_days_group_by():
        return person_days_grouped(store, month_start, month_last)

    def month_all_streamed():
        n = 0
        for _ in iter_rows(store, month):
            n += 1
        return n

    def month_all_orm_rows():
        # The same rows as ORM result rows with SQLAlchemy's per-row type processing (the
        # straightforward way, before queries.py).
        with store.session() as s:
            return s.execute(select(Punch.local_date, Punch.punched_at, Punch.staff_id, Punch.staff_no,
                                    Punch.name, Punch.source)
                             .where(Punch.local_date >= month_start, Punch.local_date < month_end)
                             .order_by(Punch.punched_at)).all()

    def month_count():
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(Punch)
                            .where(Punch.local_date >= month_start, Punch.local_date < month_end))

    def person_month():
        with store.session() as s:
            return s.execute(select(Punch.punched_at).where(
                Punch.staff_id == person, Punch.punched_at >= month_start,
                Punch.punched_at < month_end).order_by(Punch.punched_at)).all()

    def month_all_driver():
        # The same rows through the bare DB-API cursor: what row objects cost on top.
        raw = store.engine.raw_connection()
        try:
            cur = raw.cursor()
            mark = "?" if store.dialect == "sqlite" else "%s"
            cur.execute(f"SELECT local_date, punched_at, staff_id, staff_no, name, source FROM punches "
                        f"WHERE local_date >= {mark} AND local_date < {mark} "
                        f"ORDER BY local_date, punched_at, id", (month_start, month_end))
            return cur.fetchall()
        finally:
            raw.close()

    week, single_day = PunchFilter.days(day, day + dt.timedelta(days=6)), PunchFilter.days(day, day)

    def week_all():
        return rows(store, week)

    def one_day():
        return rows(store, single_day)

    return {"month_all_rows": len(month_all()),
            "month_all_staff_columns_ms": round(_timed(month_all_columns, 5), 2),
            "month_all_staff_fetch_ms": round(_timed(month_all, 5), 2),
            "month_person_days": len(month_person_days()),
            "month_person_days_ms": round(_timed(month_person_days, 5), 2),
            "month_person_days_group_by_ms": round(_timed(month_person_days_group_by, 5), 2),
            "month_all_staff_orm_rows_fetch_ms": round(_timed(month_all_orm_rows, 5), 2),
            "month_all_staff_streamed_ms": round(_timed(month_all_streamed, 5), 2),
            "month_all_staff_driver_fetch_ms": round(_timed(month_all_driver, 5), 2),
            "month_count_ms": round(_timed(month_count), 3),
            "one_person_month_ms": round(_timed(person_month), 3),
            "week_all_staff_rows": len(week_all()),
            "week_all_staff_fetch_ms": round(_timed(week_all, 5), 2),
            "one_day_all_staff_ms": round(_timed(one_day), 3)}


INDEXES = ("ix_punches_local_date_time", "ix_punches_staff_punched_at", "ix_punches_punched_at")


def _bench_queries(store, staff) -> dict:
    out = {}
    start = dt.date(2026, 1, 1)
    for label, days in (("month_1000_staff", MONTH_DAYS), ("punches_200k", 100)):
        with store.session() as s:
            s.execute(text("DELETE FROM push_outbox"))
            s.execute(text("DELETE FROM punches"))
        total = _seed_punches(store, staff, days, start)
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        indexed = _queries(store, staff, start)
        with store.engine.begin() as conn:
            for name in INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
        unindexed = _queries(store, staff, start)
        with store.engine.begin() as conn:
            conn.execute(text("CREATE INDEX ix_punches_local_date_time ON punches "
                              "(local_date, punched_at, id, staff_id, staff_no, name, source)"))
            conn.execute(text("CREATE INDEX ix_punches_staff_punched_at ON punches (staff_id, punched_at)"))
            conn.execute(text("CREATE INDEX ix_punches_punched_at ON punches (punched_at)"))
        out[label] = {"punches": total, "indexed": indexed, "baseline_no_indexes": unindexed}
    return out


def _backend(config, url: str | None, confirms: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="daka-bench-") as tmp:
        instance = Instance(Path(tmp) / "instance").prepare()
        store = open_store(config, instance, url=url)
        try:
            staff = _add_staff(store, STAFF)
            result = {"dialect": store.dialect,
                      "confirm": _bench_confirm(config, instance, store, staff, confirms),
                      "flush": _bench_flush(config, instance, store, staff, 20000),
                      "push": _bench_push(config, instance, store, staff),
                      "queries": _bench_queries(store, staff)}
        finally:
            store.dispose()
        floor = _fsync_floor(instance.root if instance.root.exists() else Path(tmp), 300)
    result["confirm"]["floor_append_fdatasync_p50_ms"] = round(_percentile(floor, 0.5), 3)
    result["confirm"]["floor_append_fdatasync_p99_ms"] = round(_percentile(floor, 0.99), 3)
    return result


def run(config, *, confirms: int = 2000, postgres: str = "auto") -> dict:
    results = {"sqlite": _backend(config, None, confirms)}
    if postgres == "off":
        return results
    if postgres != "auto":
        results["postgresql"] = _backend(config, postgres, confirms)
        return results
    bindir = find_bindir()
    if bindir is None:
        results["postgresql"] = {"skipped": "PostgreSQL binaries not found"}
        return results
    with tempfile.TemporaryDirectory(prefix="daka-bench-pg-") as tmp:
        with PostgresServer(Path(tmp), bindir) as server:
            results["postgresql"] = _backend(config, server.create_database("bench"), confirms)
    return results

"""`daka bench admin`: the attendance API and the dashboard over 200,000 punches, 50 clients.

The server is the real one (waitress in a thread of this process, SQLite in a temporary
instance); the clients run in a separate process on loopback (admin/bench_client.py). The
baseline, measured in the same run, is one client alone: the ratio shows what concurrency costs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from app.config import load_config
from app.instance import Instance
from app.store import Punch, Staff, open_store

from . import create_app
from .auth.tokens import create as create_token
from .auth.users import create_user
from .bench_client import CLIENTS
from .server import AdminServer

STAFF = 500
FIRST_DAY = dt.date(2025, 1, 1)
PASSWORD = "bench password"


def seed(store, punches: int) -> int:
    """``punches`` punches of STAFF people, spread over working hours; the number of days."""
    rng = random.Random(7)
    per_day = STAFF  # one punch per person and day on average
    days = max(1, punches // per_day)
    with store.session() as s:   # a bulk insert skips the ORM event that numbers zk_uid: number them here
        s.execute(insert(Staff), [{"staff_no": f"E{i:05d}", "name": f"员工{i}", "department": f"部门{i % 12}",
                                   "active": True, "zk_uid": i + 1} for i in range(STAFF)])
    batch: list[dict] = []
    for n in range(punches):
        staff = rng.randrange(STAFF)
        day = FIRST_DAY + dt.timedelta(days=n // per_day)
        local = dt.datetime.combine(day, dt.time(7)) + dt.timedelta(seconds=rng.randrange(13 * 3600))
        batch.append({"uuid": uuid.uuid4(), "staff_id": staff + 1, "staff_no": f"E{staff:05d}",
                      "name": f"员工{staff}", "punched_at": local - dt.timedelta(hours=8), "local_date": day,
                      "device_id": "bench", "score": 0.97, "source": "face"})
        if len(batch) == 20_000:
            with store.session() as s:
                s.execute(insert(Punch), batch)
            batch = []
    if batch:
        with store.session() as s:
            s.execute(insert(Punch), batch)
    return days


def run(*, punches: int = 200_000, clients: int = 50, requests: int = 2000) -> dict:
    with tempfile.TemporaryDirectory(prefix="daka-bench-admin-") as tmp:
        instance = Instance(Path(tmp)).prepare()
        config = load_config(instance)
        store = open_store(config, instance)
        t0 = time.perf_counter()
        days = seed(store, punches)
        seeded = time.perf_counter() - t0
        create_user(store, "bench", PASSWORD, "admin", actor="bench")
        token = create_token(store, "bench", "bench")
        app = create_app(config, instance, store=store)
        server = AdminServer(app, "127.0.0.1", 0, threads=config.admin.threads).start()
        epoch = int(dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC).timestamp())
        load_start = os.getloadavg()[0]
        results = {}
        try:
            for client in CLIENTS:
                for span, kinds in (("day", "attendance_api,dashboard"), ("hour", "attendance_api")):
                    cmd = [sys.executable, "-m", "admin.bench_client", "--url", server.url, "--token", token,
                           "--user", "bench", "--password", PASSWORD, "--clients", str(clients),
                           "--requests", str(requests), "--days", str(days), "--first-day-epoch", str(epoch),
                           "--range", span, "--client", client, "--kinds", kinds]
                    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
                    if done.returncode != 0:
                        raise RuntimeError(f"bench client failed: {done.stderr[-2000:]}")
                    results[client, span] = json.loads(done.stdout)
        finally:
            server.stop()
            store.dispose()
    out = {
        "punches": punches, "staff": STAFF, "days": days, "seed_seconds": round(seeded, 1),
        "server": f"waitress, {config.admin.threads} threads, SQLite (WAL)", "clients": clients,
        "cpu_count": os.cpu_count(), "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "target_p99_ms": 200,
    }
    for client in CLIENTS:
        figures = {"attendance_api_one_day": results[client, "day"]["attendance_api"],
                   "attendance_api_one_hour": results[client, "hour"]["attendance_api"],
                   "dashboard": results[client, "day"]["dashboard"]}
        figures["attendance_api_one_day"]["rows_per_response"] = punches // days
        for c_b in figures.values():
            c, b = c_b["concurrent"], c_b["baseline_one_client"]
            c_b["throughput_ratio_vs_one_client"] = round(c["requests_per_s"] / b["requests_per_s"], 2)
        if client == "threads":  # at the top level, comparable with earlier runs
            out.update(figures)
        else:
            out[f"{client}_client"] = figures
    return out

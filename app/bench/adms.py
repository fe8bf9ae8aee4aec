"""`daka bench adms --url URL`: confirm -> ADMS server latency, median and p99.

A throw-away instance (SQLite) composes what `daka run` does for punches: attendance with its
journal and flush job (the default flush interval) and the ADMS link. Each punch is confirmed
through the clock-in service; its latency ends when the server answered ``OK`` for the ATTLOG
batch holding it (an ADMS server answers after storing the rows: django-fingerprint-attendance
commits them, and its stamp, before it answers). Punches come one at a time with a random pause,
as people walk up. The server must be running (e.g. `python -m tests.helpers.adms_server DIR`).
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from app.attendance import Candidate, build_scheduler, open_attendance
from app.config import load_config, with_values
from app.instance import Instance
from app.store import Punch, open_store
from app.zk.adms import AdmsLink


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(url: str, *, punches: int = 100, serial: str | None = None) -> dict:
    serial = serial or "DAKABENCH" + uuid.uuid4().hex[:6].upper()
    with tempfile.TemporaryDirectory(prefix="daka-bench-adms-") as folder:
        instance = Instance(Path(folder) / "instance").prepare()
        config = with_values(load_config(instance), {"push.adms_url": url, "push.adms_serial": serial,
                                                      "attendance.dedupe_seconds": 0})
        store = open_store(config, instance)
        attendance = open_attendance(config, instance, store)
        scheduler = build_scheduler(config, attendance)
        link = AdmsLink(store, config, journal=attendance.journal, wake_flush=scheduler.wake_flush)
        acked = {"cursor": 0}
        changed = threading.Condition()

        def uploaded(table: str, cursor: int) -> None:
            if table == "ATTLOG":
                with changed:
                    acked["cursor"], acked["at"] = cursor, time.monotonic()
                    changed.notify_all()
        link.on_upload = uploaded
        scheduler.start()
        link.start()
        rng = random.Random(18)
        seconds: list[float] = []
        try:
            deadline = time.monotonic() + 60
            while link.last_handshake is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no handshake with {url} within 60 s: {link.last_error}")
                time.sleep(0.05)
            for i in range(punches):
                t0 = time.monotonic()
                result = attendance.clockin.confirm(Candidate(i + 1, f"B{i + 1:05d}", f"员工{i + 1}", 0.95))
                with changed:
                    if not changed.wait_for(lambda: _stored_id(store, result.punch.uuid) <= acked["cursor"],
                                            timeout=60):
                        raise RuntimeError(f"a punch did not reach {url} within 60 s: {link.last_error}")
                    seconds.append(acked["at"] - t0)
                time.sleep(rng.uniform(0.2, 1.0))
        finally:
            link.stop()
            scheduler.shutdown(wait=True)
            attendance.close()
            store.dispose()
    return {"punches": punches, "server": url, "serial": serial, "target_s": 2.0,
            "flush_seconds": config.attendance.flush_seconds,
            "median_s": round(_percentile(seconds, 0.5), 3), "p99_s": round(_percentile(seconds, 0.99), 3),
            "max_s": round(max(seconds), 3)}


def _stored_id(store, punch_uuid) -> float:
    """The punch's id once flushed into the database; infinity before."""
    with store.session() as s:
        found = s.scalar(select(Punch.id).where(Punch.uuid == punch_uuid))
    return found if found is not None else float("inf")

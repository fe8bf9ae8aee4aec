"""`daka bench zkpull`: the ZKTeco pull protocol's clients reading a large store, and the kiosk's
frame rate while a fuzzer hammers the 4370 server; printed as JSON.

1. **read**: a throw-away SQLite store of ``staff`` staff and ``punches`` punches served on a
   loopback port; each client (pyzk over TCP and UDP, node-zklib and zkteco-js when node and
   tests/zk/node are installed) reads every user and punch, timed, next to the store's own range
   query of the same punches (``queries.rows`` and ``queries.punch_columns``) and the server's
   building of the 40-byte records. pyzk's own parsing of the records is timed apart from the
   transfer (``read_with_buffer``): it copies the rest of the buffer at each record.
2. **kiosk**: the kiosk UI bench (``daka bench ui``'s live view) run twice, alone and with the
   4370 server in the same process answering a fuzzer (another process) all along.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from app.attendance import queries
from app.bench import ui as bench_ui   # Kivy itself is imported by its run() only
from app.config import load_config
from app.instance import Instance
from app.store import Punch, Staff, open_store
from app.zk.pull import PullDevice, PullOptions, PullServer
from app.zk.pull.device import ALL_DAYS

TZ = ZoneInfo("Asia/Shanghai")
NODE_DIR = Path(__file__).resolve().parents[2] / "tests" / "zk" / "node"


def _seed(store, staff: int, punches: int) -> None:
    start = dt.datetime(2026, 1, 5, 0, 0)
    with store.session() as s:
        people = [Staff(staff_no=f"B{i:05d}", name=f"员工{i}") for i in range(staff)]
        s.add_all(people)
        s.flush()
        rows = []
        for k in range(punches):
            st = people[k % staff]
            at = start + dt.timedelta(minutes=3 * k)
            rows.append({"uuid": uuid.uuid4(), "staff_id": st.id, "staff_no": st.staff_no, "name": st.name,
                         "punched_at": at, "local_date": at.replace(tzinfo=dt.UTC).astimezone(TZ).date(),
                         "device_id": "bench", "source": "face"})
        s.execute(Punch.__table__.insert(), rows)


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3), value


def _pyzk(port: int, udp: bool):
    from zk import ZK   # a test-only dependency (pyproject's test extra)

    def read():
        zk = ZK("127.0.0.1", port=port, timeout=60, force_udp=udp, ommit_ping=True, encoding="utf-8")
        zk._ZK__sock.close()   # pyzk drops its first socket unclosed
        zk.connect()
        users, punches = zk.get_users(), zk.get_attendance()
        zk.disconnect()
        return len(users), len(punches)

    def transfer():
        zk = ZK("127.0.0.1", port=port, timeout=60, force_udp=udp, ommit_ping=True)
        zk._ZK__sock.close()
        zk.connect()
        zk.read_sizes()
        _data, size = zk.read_with_buffer(13)   # CMD_ATTLOG_RRQ: the bytes, before pyzk parses them
        zk.disconnect()
        return size

    return read, transfer


def _node(client: str, port: int, out: Path):
    def read():
        done = subprocess.run(["node", str(NODE_DIR / "read.js"), client, "127.0.0.1", str(port), str(out)],
                              cwd=NODE_DIR, env={**os.environ, "TZ": "UTC"}, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{client}: {done.stderr[-500:]}")
        seen = json.loads(out.read_text())
        return len(seen["users"]), len(seen["records"]), seen["seconds"]
    return read


def read_figures(staff: int = 1000, punches: int = 50_000, repeat: int = 3) -> dict:
    root = Path(tempfile.mkdtemp(prefix="daka-bench-zkpull-"))
    instance = Instance(root / "instance").prepare()
    store = open_store(load_config(instance), instance)
    try:
        _seed(store, staff, punches)
        device = PullDevice(store, timezone=lambda: TZ)
        everything = queries.PunchFilter.days(*ALL_DAYS)
        out: dict = {"staff": staff, "punches": punches, "repeat": repeat}
        out["store_rows_s"], rows = _timed(lambda: len(queries.rows(store, everything)), repeat)
        out["store_columns_s"], _ = _timed(lambda: len(queries.punch_columns(store, *ALL_DAYS)), repeat)
        out["server_build_records_s"], _ = _timed(lambda: len(device.attendance()), repeat)
        server = PullServer(device, PullOptions(), host="127.0.0.1", port=0).start()
        try:
            for name, udp in (("pyzk_tcp", False), ("pyzk_udp", True)):
                read, transfer = _pyzk(server.port, udp)
                out[f"{name}_users_and_punches_s"], counts = _timed(read, repeat)
                out[f"{name}_punch_transfer_s"], _ = _timed(transfer, repeat)
                out[f"{name}_read"] = counts
            if shutil.which("node") and (NODE_DIR / "node_modules" / "zkteco-js").is_dir():
                for client in ("node-zklib", "zkteco-js"):
                    seconds, seen = _timed(_node(client, server.port, root / "seen.json"), repeat)
                    out[f"{client}_users_and_punches_s"] = seconds
                    out[f"{client}_read"] = seen[:2]
                    out[f"{client}_inside_node_s"] = seen[2]
            else:
                out["node"] = "skipped: node or tests/zk/node (npm ci) missing"
        finally:
            server.stop()
        out["all_read"] = all(v == [staff, punches] or v == (staff, punches)
                              for k, v in out.items() if k.endswith("_read"))
        out["rows_checked"] = rows
        return out
    finally:
        store.dispose()
        shutil.rmtree(root, ignore_errors=True)


def kiosk_figures(models, seconds: float = 8.0) -> dict:
    """The kiosk's live view alone, then with the 4370 server answering a fuzzer in another process."""
    alone = bench_ui.run(models, seconds=seconds, walkups=1)["live_recognising"]
    root = Path(tempfile.mkdtemp(prefix="daka-bench-zkfuzz-"))
    instance = Instance(root / "instance").prepare()
    store = open_store(load_config(instance), instance)
    _seed(store, 100, 2000)
    server = PullServer(PullDevice(store, timezone=lambda: TZ), PullOptions(), host="127.0.0.1", port=0).start()
    fuzzer = subprocess.Popen([sys.executable, "-c", (
        "import sys\nfrom app.zk.pull.fuzz import FrameFuzzer\nf = FrameFuzzer('127.0.0.1', int(sys.argv[1]), seed=7)\n"
        "while True:\n    f.run(1000)\n"), str(server.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fuzzed = bench_ui.run(models, seconds=seconds, walkups=1)["live_recognising"]
        status = server.status()
    finally:
        fuzzer.kill()
        fuzzer.wait()
        server.stop()
        store.dispose()
        shutil.rmtree(root, ignore_errors=True)
    keys = ("fps_median", "worst_interval_ms", "vision_frames_per_s", "descriptors_per_s")
    return {"alone": {k: alone.get(k) for k in keys}, "with_fuzzer": {k: fuzzed.get(k) for k in keys},
            "server_during_fuzz": status}


def run(models, *, staff: int = 1000, punches: int = 50_000, repeat: int = 3, kiosk: bool = True,
        seconds: float = 8.0) -> dict:
    load = os.getloadavg()
    result = {"machine": {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(v, 2) for v in load]},
              "read": read_figures(staff, punches, repeat)}
    if kiosk:
        result["kiosk"] = kiosk_figures(models, seconds)
    return result

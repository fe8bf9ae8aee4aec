"""Stores to read over the ZKTeco pull protocol, the server on a loopback port, and what the store
holds read directly with SQL (so the tests compare the clients' answers with the store, not with
the server's own code)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from zk import ZK

from app.store import Punch, Staff
from app.zk.pull import PullDevice, PullOptions, PullServer

TZ = ZoneInfo("Asia/Shanghai")
NODE_DIR = Path(__file__).resolve().parents[1] / "zk" / "node"


def seed(store, people: list[tuple[str, str]], punches: int, *, start=dt.datetime(2026, 11, 2, 0, 30),
         step_minutes: int = 7, sources=("face",)) -> None:
    """``people`` (staff no, name) and ``punches`` punches spread over them, ``step_minutes`` apart."""
    with store.session() as s:
        staff = [Staff(staff_no=no, name=name) for no, name in people]
        s.add_all(staff)
        s.flush()
        rows = []
        for k in range(punches):
            st = staff[k % len(staff)]
            at = start + dt.timedelta(minutes=step_minutes * k)
            rows.append({"uuid": uuid.uuid4(), "staff_id": st.id, "staff_no": st.staff_no, "name": st.name,
                         "punched_at": at, "local_date": at.replace(tzinfo=dt.UTC).astimezone(TZ).date(),
                         "device_id": "t1", "source": sources[k % len(sources)]})
        if rows:
            s.execute(Punch.__table__.insert(), rows)


def stored_users(store) -> list[tuple[int, str, str]]:
    """(uid, staff no, name) of every staff member, by uid."""
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT zk_uid, staff_no, name FROM staff ORDER BY zk_uid"))]


def stored_punches(store) -> list[tuple[int, str, dt.datetime, int]]:
    """(uid, staff no, terminal-local time, verify type) of every punch, in the store's order."""
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.zk_uid, p.staff_no, p.punched_at, p.source FROM punches p LEFT JOIN staff s "
            "ON s.id = p.staff_id ORDER BY p.local_date, p.punched_at, p.id")).all()
    out = []
    for uid, no, at, source in rows:
        at = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
        local = at.replace(tzinfo=dt.UTC).astimezone(TZ).replace(tzinfo=None, microsecond=0)
        out.append((uid or 0, no, local, 15 if source == "face" else 0))
    return out


@contextmanager
def serving(store, options: PullOptions | None = None, **server_args):
    device = PullDevice(store, timezone=lambda: TZ, **server_args.pop("device_args", {}))
    server = PullServer(device, options or PullOptions(), host="127.0.0.1", port=0, **server_args).start()
    try:
        yield server
    finally:
        server.stop()


def connect_pyzk(port: int, *, udp: bool = False, key: int = 0, timeout: float = 20):
    """A connected pyzk client (UTF-8 names), its sockets closed when it is collected.

    pyzk opens a UDP socket in its constructor and drops it unclosed when it connects over TCP,
    and keeps a socket open after a refused connect: both are closed here, or the tests'
    warnings-are-errors would blame them on the server.
    """
    zk = ZK("127.0.0.1", port=port, timeout=timeout, password=key, force_udp=udp, ommit_ping=True,
            encoding="utf-8")
    zk._ZK__sock.close()
    _open_clients.append(zk)
    return zk.connect()


_open_clients: list = []


def close_pyzk_clients() -> None:
    while _open_clients:
        sock = getattr(_open_clients.pop(), "_ZK__sock", None)
        if sock is not None:
            sock.close()


def node_available() -> str | None:
    """Why the node clients cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (Debian's nodejs package): the node ZKTeco clients cannot run"
    if not all((NODE_DIR / "node_modules" / name).is_dir() for name in ("node-zklib", "zkteco-js")):
        return "tests/zk/node is not installed: run `make test` (its test-node stamp runs npm ci there)"
    return None


def node_read(client: str, port: int, out: Path, timeout: float = 300) -> dict:
    """Run tests/zk/node/read.js with ``client`` against the server; what the client saw."""
    proc = subprocess.Popen(["node", str(NODE_DIR / "read.js"), client, "127.0.0.1", str(port), str(out)],
                            cwd=NODE_DIR, env={**os.environ, "TZ": "UTC"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{client} failed: {stderr[-2000:]}"
    return json.loads(out.read_text())

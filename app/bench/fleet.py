"""`daka bench fleet`: N simulated terminals confirming punches against one central PostgreSQL.

Each simulated terminal is what `daka run` is for punches, without vision: its own instance with a
local SQLite store, the real clock-in service (journal append + fdatasync + today's punches), the
real flush (journal -> local store, in batches, every ``attendance.flush_seconds`` or at once when
a batch is full; in a fleet also each second while punches wait, as the fleet link wakes it) and
fleetlink's real :class:`~app.fleet.upload.PunchUploader` with its own terminal role (``daka fleet
add-terminal``), on the fleet link's one-second tick.
Each confirms ``rate`` punches a second on a fixed schedule (open loop: a slow confirm does not
slow the arrivals). Two phases on the same terminals:

1. **standalone**: confirm and flush only (no centre), the baseline of the confirm latency;
2. **fleet**: the same plus the uploads and clients of the central admin's attendance API
   (``/api/get_attend_infos`` for today, one request a second each, against a `daka admin serve`
   process on the centre, as an installation runs it).

3. **propagation** (``changes`` > 0): on up to ``links`` of the terminals the real
   :class:`~app.fleet.link.FleetLink` (LISTEN/NOTIFY, the mirror, the poll at ten minutes so
   only a notification delivers in time), and ``changes`` renames of a person at the centre one
   after the other: the time from each central commit to each terminal's library applying it
   (the issue's "within 3 s").

Figures: confirm latency (p50, p99) of both phases, flush-to-central (from the confirm's return
to the central commit that holds the punch: the end of the upload that sent it), punches lost
or doubled at the centre (every confirmed punch's uuid is looked for, exactly once, under the
terminal's device id), the API's answers, and the centre's CPU per punch: the cluster's processes'
CPU time from /proc (the postmaster, its live children and its reaped ones) when the bench
started the cluster itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import func, insert, select

from app.attendance import Candidate, open_attendance
from app.config import load_config, with_values
from app.fleet.central import init_centre, libpq_url
from app.fleet.connect import CentreUnreachable
from app.fleet.link import FleetLink
from app.fleet.roles import add_terminal
from app.fleet.cursors import StoredCursor
from app.fleet.upload import PunchUploader
from app.instance import Instance
from app.services.settings import REGISTRY
from app.store import Punch, Staff, open_store
from app.store.pgserver import PostgresServer, find_bindir

STAFF = 200
PROPAGATION_DEADLINE_S = 120.0   # a change not applied by then counts as missed
UPLOAD_TICK_S = 1.0    # the fleet link's upload tick (app/fleet/link.py)
DRAIN_S = 180.0        # the longest wait for the last punches to reach the centre


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _figures(values: list[float], digits: int = 2) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(_percentile(values, 0.5), digits),
            "p99": round(_percentile(values, 0.99), digits), "max": round(max(values), digits),
            "mean": round(statistics.fmean(values), digits)}


@dataclass
class Terminal:
    """One simulated terminal: its instance, store, attendance and (in the fleet phase) uploader."""

    name: str
    instance: Instance
    store: object
    attendance: object
    uploader: PunchUploader | None = None
    role_url: str = ""                                   # the terminal role's central URL
    confirms_ms: list[float] = field(default_factory=list)
    confirmed: dict = field(default_factory=dict)        # uuid -> monotonic time of the confirm's return
    to_central_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)


def _template(folder: Path, config) -> Path:
    """A migrated SQLite store with the staff, copied to every terminal (one Alembic run, not N)."""
    instance = Instance(folder / "template").prepare()
    _seed_staff(open_store(config, instance))
    return instance.database_path


def _seed_staff(store) -> None:
    """The benchmark's STAFF people (F0000 …), the same on the centre and every terminal; the store is closed after."""
    try:
        with store.session() as s:
            s.execute(insert(Staff), [{"staff_no": f"F{i:04d}", "name": f"员工{i}", "zk_uid": i + 1}
                                      for i in range(STAFF)])
    finally:
        store.dispose()


def _terminal(folder: Path, name: str, template: Path, config) -> Terminal:
    instance = Instance(folder / name).prepare()
    shutil.copyfile(template, instance.database_path)
    store = open_store(config, instance, upgrade=False)
    attendance = open_attendance(config, instance, store)
    attendance.clockin.dedupe = dt.timedelta(0)   # people at a gate come back: every confirm is a punch
    t = Terminal(name, instance, store, attendance)
    attendance.clockin.on_batch_full = t.wake.set
    return t


def _staff(store) -> list[tuple[int, str, str]]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(select(Staff.id, Staff.staff_no, Staff.name).order_by(Staff.id))]


def _confirm_loop(t: Terminal, people, rate: float, until: float, seed: int) -> None:
    """Confirm ``rate`` punches a second until ``until`` (monotonic), on a fixed schedule."""
    rng = random.Random(seed)
    step = 1.0 / rate
    due = time.monotonic() + rng.uniform(0, step)   # terminals out of phase, as people walk up
    while due < until:
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sid, no, name = rng.choice(people)
        t0 = time.perf_counter()
        try:
            result = t.attendance.clockin.confirm(Candidate(sid, no, name, 0.95))
        except Exception as exc:   # a figure for the report, not a crash of the bench
            t.errors.append(f"confirm: {exc}")
        else:
            t.confirms_ms.append((time.perf_counter() - t0) * 1000)
            t.confirmed[result.punch.uuid] = time.monotonic()
        due += step


def _background(t: Terminal, flush_s: float, stop: threading.Event) -> None:
    """What the terminal's scheduler and fleet link do with its punches: flush every ``flush_s``
    or at once when a batch is full; with an uploader, every second: flush what waits in the
    journal (as the link wakes the flush job), then upload."""
    last_flush = time.monotonic()
    tick = UPLOAD_TICK_S if t.uploader is not None else flush_s
    while not stop.is_set():
        t.wake.wait(min(tick, max(0.0, flush_s - (time.monotonic() - last_flush))))
        t.wake.clear()
        pending = t.attendance.journal.pending_count()
        # the fleet link wakes the flush each tick while punches wait in the journal (its _poke_flush)
        if time.monotonic() - last_flush >= flush_s or pending >= t.attendance.clockin.flush_batch or \
                (t.uploader is not None and pending):
            _flush(t)
            last_flush = time.monotonic()
        if t.uploader is not None:
            _upload(t)


def _flush(t: Terminal) -> None:
    try:
        t.attendance.flusher.flush()
    except Exception as exc:
        t.errors.append(f"flush: {exc}")


def _upload(t: Terminal) -> None:
    before = t.uploader.cursor
    try:
        t.uploader.upload()
    except CentreUnreachable as exc:
        t.errors.append(f"upload: {exc}")
        return
    except Exception as exc:
        t.errors.append(f"upload: {exc}")
        return
    after, now = t.uploader.cursor, time.monotonic()
    if after == before:
        return
    with t.store.session() as s:
        sent = s.scalars(select(Punch.uuid).where(Punch.id > before, Punch.id <= after)).all()
    for punch_uuid in sent:
        confirmed_at = t.confirmed.get(punch_uuid)
        if confirmed_at is not None:
            t.to_central_s.append(now - confirmed_at)


def _phase(terminals: list[Terminal], people, rate: float, seconds: float, flush_s: float) -> float:
    """Run the confirm loops and the background work for ``seconds``; the wall time taken."""
    stop = threading.Event()
    until = time.monotonic() + seconds
    workers = [threading.Thread(target=_background, args=(t, flush_s, stop), name=f"bg-{t.name}", daemon=True)
               for t in terminals]
    confirmers = [threading.Thread(target=_confirm_loop, args=(t, people, rate, until, i), name=f"c-{t.name}",
                                   daemon=True) for i, t in enumerate(terminals)]
    t0 = time.monotonic()
    for th in workers + confirmers:
        th.start()
    for th in confirmers:
        th.join()
    took = time.monotonic() - t0
    stop.set()
    for t in terminals:
        t.wake.set()
    for th in workers:
        th.join(timeout=120)
    return took


class _Cpu:
    """CPU seconds of a PostgreSQL cluster's processes, read from /proc (Linux, the same host)."""

    def __init__(self, data_dir: Path):
        self.pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _stat(pid: int) -> list[str] | None:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return raw[raw.rindex(")") + 2:].split()   # after "pid (comm) ": state is field 0

    def seconds(self) -> float:
        own = self._stat(self.pid)
        if own is None:
            return float("nan")
        # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the comm)
        total = sum(int(x) for x in own[11:15])
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = self._stat(int(entry))
                if st is not None and st[1] == str(self.pid):   # field 4, ppid
                    total += int(st[11]) + int(st[12])
        return total / self.tick


def _api_clients(base: str, token: str, clients: int, until: float, out: dict, tz) -> list[threading.Thread]:
    today = dt.datetime.now(tz).date().isoformat()   # the punches' day at the terminals
    body = json.dumps({"start_time": today, "end_time": today}).encode()

    def loop() -> None:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            request = urllib.request.Request(base + "/api/get_attend_infos", data=body, method="POST",
                                             headers={"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    rows = len(json.loads(answer.read()))
                out["ms"].append((time.perf_counter() - t0) * 1000)
                out["rows"] = max(out["rows"], rows)
            except Exception as exc:
                out["errors"].append(str(exc)[:200])
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

    threads = [threading.Thread(target=loop, name=f"api-{i}", daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    return threads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CentralAdmin:
    """`daka admin serve` on the centre (its own process, as installed), with a read-only API token."""

    def __init__(self, owner_url: str, folder: Path):
        self.env = {**os.environ, "DAKA_INSTANCE": str(folder), "DATABASE_URL": owner_url, "NO_COLOR": "1"}
        self.command = [sys.executable, "-m", "app.cli.main", "admin"]
        made = subprocess.run([*self.command, "create-token", "bench-fleet", "--role", "viewer"], env=self.env,
                              capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            raise RuntimeError(f"daka admin create-token failed: {made.stderr.strip()[-500:]}")
        self.token = made.stdout.strip().splitlines()[-1]
        self.process = subprocess.Popen([*self.command, "serve", "--host", "127.0.0.1", "--port", str(_free_port())],
                                        env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            first = self.process.stdout.readline()    # {"url": ...} once it listens
            self.url = json.loads(first)["url"]
        except BaseException:
            self.stop()
            raise RuntimeError("daka admin serve did not start") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process.stdout.close()


def _drain(terminals: list[Terminal]) -> bool:
    """Flush and upload until every terminal's punches are at the centre (or DRAIN_S passed)."""
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        waiting = 0
        for t in terminals:
            _flush(t)
            _upload(t)
            waiting += t.uploader.pending() + t.attendance.journal.pending_count()
        if waiting == 0:
            return True
        time.sleep(0.5)
    return False


def _central_check(owner_url: str, terminals: list[Terminal]) -> dict:
    """Every confirmed punch at the centre exactly once, under its terminal's device id."""
    lost = doubled = stored = 0
    with psycopg.connect(libpq_url(owner_url)) as conn:
        for t in terminals:
            rows = conn.execute("SELECT uuid, count(*) FROM punches WHERE device_id = %s GROUP BY uuid",
                                (t.name,)).fetchall()
            at_centre = {u: n for u, n in rows}
            stored += sum(at_centre.values())
            lost += sum(1 for u in t.confirmed if u not in at_centre)
            doubled += sum(n - 1 for n in at_centre.values() if n > 1)
        linked = conn.execute("SELECT count(*) FROM punches WHERE staff_id IS NOT NULL").fetchone()[0]
    return {"stored": stored, "lost": lost, "doubled": doubled, "linked_to_staff": linked}


def _centre(postgres: str):
    """(owner URL, the cluster's data folder or None, the server to stop or None, its folder or None)."""
    if postgres != "auto":
        return postgres, None, None, None
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries found: install postgresql or give --postgres URL")
    # its own folder: the server's system user must own it (PostgresServer chowns it)
    root = tempfile.TemporaryDirectory(prefix="daka-bench-fleet-pg-")
    try:
        server = PostgresServer(Path(root.name), bindir, max_connections=400).start()
    except BaseException:
        root.cleanup()
        raise
    return server.create_database("fleet"), server.data, server, root


def _propagation(sims: list[Terminal], owner_url: str, config, changes: int, links: int) -> dict:
    """Commit ``changes`` renames at the centre, one at a time; the seconds from each commit to
    each linked terminal's mirror applying it."""
    applied: dict[str, list[tuple[float, set]]] = {}
    fleet_links = []
    for t in sims[:links]:
        cfg = with_values(config, {"fleet.database_url": t.role_url, "fleet.poll_s": 600})
        seen = applied.setdefault(t.name, [])
        link = FleetLink(t.store, cfg, t.instance.photos_dir,
                         on_library_changed=lambda ids, seen=seen: seen.append((time.time(), set(ids))))
        fleet_links.append(link.start())
    try:
        deadline = time.monotonic() + PROPAGATION_DEADLINE_S
        while not all(link.mirror_online and link.mirror.last_sync is not None for link in fleet_links):
            if time.monotonic() > deadline:
                raise RuntimeError("the fleet links did not come online")
            time.sleep(0.05)
        seconds: list[float] = []
        missed = 0
        with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
            staff_id = conn.execute("SELECT id FROM staff ORDER BY id LIMIT 1").fetchone()[0]
            for k in range(changes):
                marks = {name: len(seen) for name, seen in applied.items()}
                conn.execute("UPDATE staff SET name = %s WHERE id = %s", (f"改名{k}", staff_id))
                committed = time.time()
                until = time.monotonic() + PROPAGATION_DEADLINE_S
                pending = set(applied)
                while pending and time.monotonic() < until:
                    for name in list(pending):
                        hit = next((at for at, ids in applied[name][marks[name]:] if staff_id in ids), None)
                        if hit is not None:
                            seconds.append(hit - committed)
                            pending.discard(name)
                    time.sleep(0.005)
                missed += len(pending)
        return {"links": len(fleet_links), "changes": changes, "commit_to_applied_s": _figures(seconds, 3),
                "missed": missed}
    finally:
        for link in fleet_links:
            link.stop()


def run(*, terminals: int = 10, seconds: float = 30.0, rate: float = 2.0, baseline_seconds: float | None = None,
        postgres: str = "auto", api_clients: int = 2, flush_seconds: int | None = None,
        changes: int = 20, links: int = 10) -> dict:
    """The benchmark; the figures as a dict (see the module's docs)."""
    baseline_seconds = min(seconds, 30.0) if baseline_seconds is None else baseline_seconds
    with tempfile.TemporaryDirectory(prefix="daka-bench-fleet-") as tmp:
        folder = Path(tmp)
        owner_url, data_dir, server, pg_folder = _centre(postgres)
        sims: list[Terminal] = []
        admin = None
        try:
            base_instance = Instance(folder / "base").prepare()
            config = with_values(load_config(base_instance), {"attendance.dedupe_seconds": 0,
                                                              **({"attendance.flush_seconds": flush_seconds}
                                                                 if flush_seconds else {})})
            flush_s = float(config.attendance.flush_seconds)
            # the centre: the store's schema, the fleet objects, the same staff (linked by number)
            _seed_staff(open_store(config, base_instance, url=owner_url))
            init_centre(owner_url, secret_keys=sorted(k for k, v in REGISTRY.items() if v.secret))
            tag = os.urandom(3).hex()
            template = _template(folder, config)
            for i in range(terminals):
                role = add_terminal(owner_url, f"bench_{tag}_{i + 1:03d}")
                t = _terminal(folder, role.device_id, template, config)
                t.role_url = role.url
                sims.append(t)
            people = _staff(sims[0].store)

            # 1. standalone: confirm + flush, no centre
            standalone_took = _phase(sims, people, rate, baseline_seconds, flush_s) if baseline_seconds > 0 else 0.0
            standalone_ms = [x for t in sims for x in t.confirms_ms]
            standalone_n = sum(len(t.confirmed) for t in sims)
            for t in sims:   # the standalone punches stay local: the fleet phase uploads its own
                _flush(t)
                with t.store.session() as s:
                    top = s.scalar(select(func.max(Punch.id))) or 0
                StoredCursor(t.store, "punches").move(top)
                # resend=0: the uploader's start-up resend of its last punches (a failover's guard)
                # would otherwise send the standalone phase's punches, which stay local here
                t.uploader = PunchUploader(t.store, t.role_url, resend=0)
                t.confirms_ms, t.confirmed = [], {}

            # 2. fleet: the same, with uploads and the central admin's API clients
            api = {"ms": [], "errors": [], "rows": 0}
            threads = []
            if api_clients > 0:
                admin = CentralAdmin(owner_url, folder / "admin")
                threads = _api_clients(admin.url, admin.token, api_clients, time.monotonic() + seconds, api,
                                       ZoneInfo(config.device.timezone))
            cpu = _Cpu(data_dir) if data_dir is not None else None
            cpu_before = cpu.seconds() if cpu else None
            fleet_took = _phase(sims, people, rate, seconds, flush_s)
            drained = _drain(sims)
            cpu_spent = (cpu.seconds() - cpu_before) if cpu else None
            for th in threads:
                th.join(timeout=120)
            check = _central_check(owner_url, sims)
            propagation = _propagation(sims, owner_url, config, changes, links) if changes > 0 else None
            confirmed = sum(len(t.confirmed) for t in sims)
            errors = [e for t in sims for e in t.errors]
            return {
                "terminals": terminals, "seconds": seconds, "rate_per_terminal": rate,
                "flush_seconds": flush_s, "upload_tick_s": UPLOAD_TICK_S,
                "standalone": {"seconds": round(standalone_took, 1), "confirmed": standalone_n,
                               "confirm_ms": _figures(standalone_ms)},
                "fleet": {"seconds": round(fleet_took, 1), "confirmed": confirmed,
                          "punches_per_s": round(confirmed / fleet_took, 1) if fleet_took else None,
                          "confirm_ms": _figures([x for t in sims for x in t.confirms_ms]),
                          "flush_to_central_s": _figures([x for t in sims for x in t.to_central_s], 3),
                          "all_at_centre": drained, **check},
                "central_cpu": None if cpu_spent is None else {
                    "seconds": round(cpu_spent, 2),
                    "ms_per_punch": round(1000 * cpu_spent / confirmed, 3) if confirmed else None},
                "api": {"clients": api_clients, "requests": len(api["ms"]),
                        "latency_ms": _figures(api["ms"]), "largest_answer_rows": api["rows"],
                        "errors": len(api["errors"]), "first_errors": api["errors"][:3]},
                "propagation": propagation,
                "errors": len(errors), "first_errors": errors[:5],
                "note": "terminals are threads of one process sharing the host's cores with the centre",
            }
        finally:
            if admin is not None:
                admin.stop()
            for t in sims:
                if t.uploader is not None:
                    t.uploader.close()
                try:
                    t.attendance.close()
                except Exception:
                    pass
                t.store.dispose()
            if server is not None:
                server.stop()
                pg_folder.cleanup()

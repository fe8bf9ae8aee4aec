"""Issue 20, check 5: the centre is a primary with a streaming standby (pg_basebackup); terminals
use a libpq multi-host URL with target_session_attrs=read-write. The primary stops, the standby is
promoted: the terminals carry on (punches confirmed meanwhile wait in their journals), link to the
new primary by themselves, and nothing is lost or doubled; library changes made there reach them."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.helpers.fleet import make_centre
from tests.helpers.fleet_cluster import Cluster
from tests.helpers.fleet_terminals import FleetTerminal, wait_until, write_instance

pytestmark = pytest.mark.postgres


def on_both(url: str, primary: Cluster, standby: Cluster) -> str:
    hosts = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
    return url.replace(f"127.0.0.1:{primary.port}", hosts) + "?target_session_attrs=read-write"


def uuids(cluster: Cluster, database: str) -> list[str]:
    with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=daka dbname={database}") as c:
        return [str(u) for (u,) in c.execute("SELECT uuid FROM punches ORDER BY id")]


def test_terminals_ride_through_a_promotion_with_nothing_lost(tmp_path):
    primary, standby, terminals = Cluster(), None, []
    try:
        primary.start()
        centre = make_centre(primary, tmp_path, terminals=2)
        standby = primary.standby()
        standby.start()
        assert standby.in_recovery()
        terminals = [FleetTerminal(write_instance(tmp_path / f"t{i}", on_both(role.url, primary, standby))).start()
                     for i, role in enumerate(centre.terminals)]
        people = iter(range(1, 10_000))

        def punch(count: int) -> None:
            for t in terminals:
                for _ in range(count):
                    n = next(people)
                    t.punch(n, f"S{n:04d}")

        for t in terminals:
            t.wait("fleet", lambda w: w[0] == "online")
        punch(4)
        for t in terminals:
            t.wait_count("punched", 4)
            t.wait("fleet", lambda w: w[:2] == ["online", "0"], after=t.find("punched")[0])

        primary.stop("fast")   # the standby has every committed punch (a clean shutdown streams the WAL)
        punch(3)                # during the gap: confirmed into the journals
        for t in terminals:
            t.wait_count("punched", 7)
            t.wait("fleet", lambda w: w[0] == "offline")
        standby.promote()
        wait_until(lambda: not standby.in_recovery(), 60, "the standby promoted")
        punch(2)
        for t in terminals:
            t.wait_count("punched", 9)
        confirmed = sorted(u for t in terminals for u in t.punched())
        wait_until(lambda: sorted(uuids(standby, centre.database)) == confirmed, 120,
                   "every confirmed punch on the promoted standby")
        assert len(uuids(standby, centre.database)) == len(confirmed) == 18   # none doubled

        # the mirror follows the new primary too
        changed = time.time()
        with psycopg.connect(f"host=127.0.0.1 port={standby.port} user=daka dbname={centre.database}",
                             autocommit=True) as c:
            c.execute("INSERT INTO departments (name, created_at) VALUES ('新主库', now())")
        for t in terminals:
            t.wait("gallery", after=changed)
        for t in terminals:
            assert t.stop() == 0, t.child.log[-3000:]
    finally:
        for t in terminals:
            t.kill()
        if standby is not None:
            standby.close()
        primary.close()

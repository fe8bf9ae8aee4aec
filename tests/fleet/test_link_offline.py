"""Issue 20, checks 2 and 3: fleet terminals keep working while the central cluster is down.

2. Three headless terminals confirm punches while the cluster is stopped; one is killed -9 during
   the outage and started again afterwards: every confirmed punch is in the central database
   exactly once. The outage lasts at least 60 s (the issue's figure) and until the terminals have
   retried at their longest wait (``fleet.retry_max_s``, 2 s here) a few times; the two living
   terminals keep confirming a punch every few seconds all along.
3. A terminal started while the cluster is down runs from its local copy of the library:
   it recognises a person enrolled earlier and says it is offline; it links up when the centre returns.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers.fleet import make_centre
from tests.helpers.fleet_cluster import Cluster
from tests.helpers.fleet_terminals import FleetTerminal, central_library, gallery_is, write_instance
from tests.helpers.kiosk_window import portrait

pytestmark = pytest.mark.postgres
OUTAGE_S = 60.0


@pytest.fixture
def cluster():
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.close()


def central_uuids(centre) -> list[tuple[str, str]]:
    with centre.connect() as c:
        return [(str(u), d) for u, d in c.execute("SELECT uuid, device_id FROM punches ORDER BY id")]


def offline_with(n: int):
    return lambda words: words[0] == "offline" and int(words[1]) >= n


def test_every_punch_confirmed_during_an_outage_reaches_the_centre_once(cluster, tmp_path):
    centre = make_centre(cluster, tmp_path, terminals=3)
    terminals = [FleetTerminal(write_instance(tmp_path / f"t{i}", role.url)) for i, role in enumerate(centre.terminals)]
    staff = iter(range(1, 10_000))

    def punch(t: FleetTerminal, count: int) -> None:
        for _ in range(count):
            n = next(staff)
            t.punch(n, f"S{n:04d}")   # a different person each time: no repeat within the duplicate window

    try:
        for t in terminals:
            t.start()
        for t in terminals:
            t.wait("fleet", lambda w: w[0] == "online")
            punch(t, 3)
        for t in terminals:
            t.wait_count("punched", 3)
        cluster.stop()
        outage_began = time.monotonic()
        for t in terminals:
            t.wait("fleet", offline_with(0))
            punch(t, 6)
        for t in terminals:
            t.wait_count("punched", 9)
        victim = terminals[0]
        victim.kill()                        # kill -9 with punches only journaled or stored locally
        for t in terminals[1:]:
            punch(t, 4)
        for t in terminals[1:]:
            t.wait_count("punched", 13)
            t.wait("fleet", offline_with(1))
        for t in terminals[1:]:   # retried at the longest wait (2 s) a few times
            t.wait("fleet", lambda w: w[0] == "offline" and int(w[2]) >= 4)
        punched = 13
        while time.monotonic() - outage_began < OUTAGE_S:   # a lower bound on the outage, never an upper one
            punched += 1
            for t in terminals[1:]:
                punch(t, 1)
            for t in terminals[1:]:
                t.wait_count("punched", punched)
            time.sleep(3)
        confirmed = {u: t.root.name for t in terminals for u in t.punched()}
        assert len(confirmed) == 3 * 3 + 3 * 6 + 2 * (punched - 9)

        cluster.start()
        victim.start()                       # the killed terminal's journal is replayed, then uploaded
        for t in terminals:
            t.wait("fleet", lambda w: w[:2] == ["online", "0"], after=time.time() - 600)
        stored = central_uuids(centre)
        assert sorted(u for u, _ in stored) == sorted(confirmed)            # every one, once
        devices = {role.device_id: f"t{i}" for i, role in enumerate(centre.terminals)}
        assert all(devices[d] == confirmed[u] for u, d in stored)          # as its own terminal
        for t in terminals:
            assert t.stop() == 0, t.child.log[-3000:]
    finally:
        for t in terminals:
            t.kill()


def test_a_terminal_started_while_the_centre_is_down_recognises_from_its_copy(cluster, tmp_path, photos):
    centre = make_centre(cluster, tmp_path, terminals=1)
    store, library = central_library(centre.owner_url, tmp_path / "central-admin")
    try:
        assert library.enroll_file(photos["obama.jpg"].read_bytes(), "E001_奥巴马.jpg").ok
    finally:
        store.dispose()
    scene = portrait(photos["obama2.jpg"], tmp_path / "scene")
    terminal = FleetTerminal(write_instance(tmp_path / "t0", centre.terminals[0].url, scene=scene))
    try:
        terminal.start()
        terminal.wait("gallery", gallery_is("E001"))      # the first run copies the library
        assert terminal.stop() == 0
        cluster.stop()

        restarted = time.time()
        terminal.start()
        terminal.wait("started", after=restarted)
        terminal.wait("fleet", lambda w: w[0] == "offline", after=restarted)
        terminal.wait("seen", gallery_is("E001"), after=restarted)   # from the local copy
        assert terminal.find("gallery", after=restarted) is None      # nothing came from the centre
        cluster.start()
        terminal.wait("fleet", lambda w: w[:2] == ["online", "0"], after=restarted)
        assert terminal.stop() == 0, terminal.child.log[-3000:]
    finally:
        terminal.kill()

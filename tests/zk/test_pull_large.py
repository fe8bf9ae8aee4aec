"""A store of 1,000 staff and 50,000 punches read completely by every client: the chunked path
(pyzk over TCP and UDP, node-zklib asking for all chunks at once, zkteco-js one at a time)."""

from __future__ import annotations

import pytest

from app.config import load_config
from app.instance import Instance
from app.store import open_store
from tests.helpers.zk_pull import (close_pyzk_clients, connect_pyzk, node_available, node_read, seed, serving,
                                   stored_punches, stored_users)

STAFF, PUNCHES = 1000, 50_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    instance = Instance(tmp_path_factory.mktemp("big") / "instance").prepare()
    store = open_store(load_config(instance), instance)
    seed(store, [(f"B{i:05d}", f"员工{i}") for i in range(STAFF)], PUNCHES, step_minutes=3)
    yield store, stored_users(store), stored_punches(store)
    store.dispose()


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_pyzk_reads_everything(big_store, udp):
    store, users, punches = big_store
    try:
        with serving(store) as server:
            zk = connect_pyzk(server.port, udp=udp, timeout=60)
            got_users, got_punches = zk.get_users(), zk.get_attendance()
            zk.disconnect()
    finally:
        close_pyzk_clients()
    assert len(got_users) == STAFF and len(got_punches) == PUNCHES
    assert [(u.uid, u.user_id, u.name) for u in got_users] == users
    assert [(a.uid, a.user_id, a.timestamp, a.status) for a in got_punches] == punches


@pytest.mark.skipif(node_available() is not None, reason=str(node_available()))
@pytest.mark.parametrize("client", ["node-zklib", "zkteco-js"])
def test_node_clients_read_everything(big_store, tmp_path, client):
    store, users, punches = big_store
    with serving(store) as server:
        seen = node_read(client, server.port, tmp_path / "seen.json")
    assert seen["usersError"] is None and seen["logsError"] is None
    assert [(u["uid"], u["userId"]) for u in seen["users"]] == [(uid, no) for uid, no, _n in users]
    assert [(r["uid"], r["userId"], r["time"]) for r in seen["records"]] == [
        (uid, no, local.strftime("%Y-%m-%dT%H:%M:%S.000Z")) for uid, no, local, _v in punches]

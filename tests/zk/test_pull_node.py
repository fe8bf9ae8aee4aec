"""node-zklib 1.3.0 and zkteco-js 1.7.2 (npm, tests/zk/node) read Daka as a ZKTeco terminal.

Both decode names as ASCII and read the first 9 bytes of a user id: a Chinese name arrives garbled
and a longer staff number cut to 9 characters (docs/hr-integration.md says so); uids, the rest of
the ids and the times are exact.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers.zk_pull import node_available, node_read, seed, serving, stored_punches, stored_users

pytestmark = pytest.mark.skipif(node_available() is not None, reason=str(node_available()))

PEOPLE = [("E0001", "Zhang Wei"), ("EMP-2026-00042", "Li Lei"), ("E0003", "张伟")]


def _iso(local: dt.datetime) -> str:
    return local.strftime("%Y-%m-%dT%H:%M:%S.000Z")   # read.js runs with TZ=UTC: local fields as they are


@pytest.mark.parametrize("client", ["node-zklib", "zkteco-js"])
def test_node_clients_read_users_and_punches(store, tmp_path, client):
    seed(store, PEOPLE, 6)
    with serving(store) as server:
        seen = node_read(client, server.port, tmp_path / "seen.json")
    assert seen["usersError"] is None and seen["logsError"] is None
    assert [(u["uid"], u["userId"]) for u in seen["users"]] == [(uid, no[:9]) for uid, no, _n in stored_users(store)]
    assert [u["name"] for u in seen["users"]][:2] == ["Zhang Wei", "Li Lei"]
    assert seen["users"][1]["userId"] == "EMP-2026-"            # a 14-character staff no, cut to 9
    assert [(r["uid"], r["userId"], r["time"]) for r in seen["records"]] == [
        (uid, no[:9], _iso(local)) for uid, no, local, _v in stored_punches(store)]
    if client == "zkteco-js":
        assert {r["verify"] for r in seen["records"]} == {15}

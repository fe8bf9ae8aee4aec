"""pyzk 0.9 reads Daka over the ZKTeco pull protocol as it reads a ZKTeco terminal: over TCP and
UDP, with and without a comm key, on SQLite and PostgreSQL; writes are refused unless enabled."""

from __future__ import annotations

import datetime as dt
import json
import stat
import select
import socket
import struct
import threading
import time

import pytest
from sqlalchemy import text
from zk.exception import ZKErrorResponse

from admin.system.clock import set_system_time
from app.zk.pull import PullOptions
from app.zk.pull import protocol as p
from tests.helpers.zk_pull import TZ, close_pyzk_clients, connect_pyzk, seed, serving, stored_punches, stored_users

PEOPLE = [("E0001", "张伟"), ("E0002", "Li Lei"), ("EMP-2026-00042", "王小明"),
          ("E0004", "欧阳娜娜娜娜娜娜娜")]   # 9 characters, 27 bytes of UTF-8: cut to 7 (21 bytes)
OPTIONS = PullOptions(serial_number="DAKATEST0001", device_name="前台", mac="02:00:00:00:00:01")


@pytest.fixture(autouse=True)
def _pyzk_sockets():
    yield
    close_pyzk_clients()


def _client(port, *, udp=False, key=0):
    return connect_pyzk(port, udp=udp, key=key)


def _audit(store, action):
    with store.engine.connect() as conn:
        return [(actor, json.loads(detail)) for actor, detail in conn.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = :a ORDER BY id"), {"a": action})]


def _expected_name(name: str) -> str:
    data = name.encode()
    return name if len(data) < 24 else data[:23].decode(errors="ignore")


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("key", [0, 123456])
def test_pyzk_reads_what_the_store_holds(store, transport, key):
    seed(store, PEOPLE, 9, sources=("face", "face", "manual"))
    options = PullOptions(**{**OPTIONS.__dict__, "comm_key": key})
    with serving(store, options) as server:
        zk = _client(server.port, udp=transport == "udp", key=key)
        users = zk.get_users()
        attendance = zk.get_attendance()
        clock = zk.get_time()
        serial, firmware = zk.get_serialnumber(), zk.get_firmware_version()
        name, mac, platform = zk.get_device_name(), zk.get_mac(), zk.get_platform()
        assert zk.disable_device() and zk.enable_device() and zk.refresh_data()
        assert zk.disconnect()
    assert zk.users == len(PEOPLE) and zk.records == 9   # GET_FREE_SIZES' exact counts
    assert [(u.uid, u.user_id, u.name, u.privilege) for u in users] == [
        (uid, no, _expected_name(n), 0) for uid, no, n in stored_users(store)]
    assert users[0].name == "张伟" and users[3].name == "欧阳娜娜娜娜娜"
    assert [(a.uid, a.user_id, a.timestamp, a.status, a.punch) for a in attendance] == [
        (uid, no, local, verify, 0) for uid, no, local, verify in stored_punches(store)]
    assert attendance[0].timestamp == dt.datetime(2026, 11, 2, 8, 30)   # 00:30 UTC in Shanghai
    assert {a.status for a in attendance} == {15, 0}                    # face, and a manual punch
    assert abs(clock - dt.datetime.now(TZ).replace(tzinfo=None)) < dt.timedelta(minutes=5)
    assert (serial, name, mac, platform) == ("DAKATEST0001", "前台", "02:00:00:00:00:01", "ZMM220_TFT")
    assert firmware.startswith("Ver 6.60 Daka")
    opened = _audit(store, "zk_pull_connect")
    assert opened and opened[-1][0].startswith(f"zk-pull {transport} 127.0.0.1:")


def test_a_large_store_is_read_in_chunks_over_both_transports(store):
    people = [(f"S{i:04d}", f"员工{i}") for i in range(60)]   # 60 users: 4,324 bytes, over one packet
    seed(store, people, 500)                                     # 20,004 bytes: two UDP chunks
    with serving(store) as server:
        for udp in (False, True):
            zk = _client(server.port, udp=udp)
            users, attendance = zk.get_users(), zk.get_attendance()
            zk.disconnect()
            assert [(u.uid, u.user_id, u.name) for u in users] == stored_users(store)
            assert [(a.uid, a.user_id, a.timestamp, a.status) for a in attendance] == [
                (uid, no, local, verify) for uid, no, local, verify in stored_punches(store)]


def test_an_empty_terminal_reads_as_empty(store):
    with serving(store) as server:
        zk = _client(server.port)
        assert zk.get_users() == [] and zk.get_attendance() == []
        zk.disconnect()


def test_a_wrong_comm_key_is_refused_and_audited(store):
    seed(store, PEOPLE[:1], 1)
    with serving(store, PullOptions(comm_key=123456)) as server:
        with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
            _client(server.port, key=654321)
        with pytest.raises(ZKErrorResponse, match="Unauthenticated"):
            _client(server.port, key=0)
    refused = _audit(store, "zk_pull_refused")
    assert [d["reason"] for _a, d in refused] == ["wrong comm key", "wrong comm key"]


def test_writes_clearing_and_the_clock_are_refused_by_default(store):
    seed(store, PEOPLE[:2], 3)
    before_users, before_punches = stored_users(store), stored_punches(store)
    with serving(store) as server:
        zk = _client(server.port)
        with pytest.raises(ZKErrorResponse):
            zk.set_user(uid=9, name="赵六", user_id="E0009")
        with pytest.raises(ZKErrorResponse):
            zk.delete_user(uid=1)
        with pytest.raises(ZKErrorResponse):
            zk.clear_attendance()
        with pytest.raises(ZKErrorResponse):
            zk.set_time(dt.datetime(2026, 12, 1, 8, 0, 0))
        assert len(zk.get_users()) == 2   # the session goes on after refusals
        zk.disconnect()
    assert stored_users(store) == before_users and stored_punches(store) == before_punches
    reasons = [d["reason"] for _a, d in _audit(store, "zk_pull_refused")]
    assert len(reasons) == 4 and any("never" in r for r in reasons)
    assert any("allow_writes" in r for r in reasons) and any("allow_set_time" in r for r in reasons)


def test_enabled_writes_add_rename_and_delete_users_audited(store):
    seed(store, PEOPLE[:2], 2)
    with serving(store, PullOptions(allow_writes=True)) as server:
        zk = _client(server.port)
        zk.set_user(uid=40, name="赵六", user_id="E0040")
        zk.set_user(uid=1, name="张伟伟", user_id="E0001")
        with pytest.raises(ZKErrorResponse):   # uid 2 is E0002: a client cannot move a staff number
            zk.set_user(uid=2, name="李雷", user_id="E0001")
        zk.delete_user(uid=40)
        users = zk.get_users()
        with pytest.raises(ZKErrorResponse):
            zk.clear_attendance()              # never, even with writes on
        zk.disconnect()
    assert [(u.uid, u.user_id, u.name) for u in users] == [(1, "E0001", "张伟伟"), (2, "E0002", "Li Lei")]
    assert stored_users(store) == [(1, "E0001", "张伟伟"), (2, "E0002", "Li Lei")]
    assert [d["staff_no"] for _a, d in _audit(store, "zk_pull_create_user")] == ["E0040"]
    assert [d["new"] for _a, d in _audit(store, "zk_pull_rename_user")] == ["张伟伟"]
    assert [d["uid"] for _a, d in _audit(store, "zk_pull_delete_user")] == [40]
    assert len(stored_punches(store)) == 2


def test_set_time_goes_through_the_admins_set_time_command(store, tmp_path):
    log = tmp_path / "set-time.log"
    command = tmp_path / "daka-set-time"
    command.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho done\n')
    command.chmod(command.stat().st_mode | stat.S_IEXEC)
    clock = {"set_clock": lambda date, time: set_system_time(str(command), date, time)}
    with serving(store, PullOptions(allow_set_time=True), device_args=clock) as server:
        zk = _client(server.port)
        assert zk.set_time(dt.datetime(2026, 12, 1, 8, 5, 9))
        zk.disconnect()
    assert log.read_text() == "2026-12-01 08:05:09\n"
    assert [(d["date"], d["time"]) for _a, d in _audit(store, "set_time")] == [("2026-12-01", "08:05:09")]


def test_clients_at_once_each_read_everything(store):
    seed(store, [(f"C{i:03d}", f"员工{i}") for i in range(40)], 400)   # chunked answers
    results, errors = {}, []

    def read(name, udp):
        try:
            zk = _client(server.port, udp=udp)
            results[name] = ([(u.uid, u.user_id, u.name) for u in zk.get_users()],
                             [(a.uid, a.user_id, a.timestamp) for a in zk.get_attendance()])
            zk.disconnect()
        except Exception as exc:   # reported below, with the others
            errors.append(f"{name}: {exc!r}")

    with serving(store) as server:
        threads = [threading.Thread(target=read, args=(f"c{i}", i % 2 == 1)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors and len(results) == 6
    expected = (stored_users(store), [(u, n, t) for u, n, t, _v in stored_punches(store)])
    assert all(seen == expected for seen in results.values())


def test_a_probe_connection_that_hung_up_takes_no_clients_place(store):
    """pyzk connects once to probe the port and closes at once, then connects for real: on a busy
    machine the probe's serving thread may not have seen the hang-up yet. The probes' threads are
    held here, so only the server's own look at the sockets can tell that they are gone."""
    hold, held = threading.Event(), []
    with serving(store, per_address=2) as server:
        serve = server._serve_tcp

        def slow_for_the_probes(conn, peer):
            if len(held) < 2:
                held.append(peer)
                hold.wait(60)
            serve(conn, peer)

        server._serve_tcp = slow_for_the_probes
        try:
            for _ in range(2):          # two probes, as two pyzk clients make them
                socket.create_connection(("127.0.0.1", server.port), timeout=10).close()
            deadline = time.monotonic() + 60
            while len(held) < 2 and time.monotonic() < deadline:    # both accepted and counted
                time.sleep(0.01)
            assert len(server._connections) == 2
            zk = connect_pyzk(server.port)     # its own probe, then its connection: both let in
            assert zk.get_users() == [] and server.counters["refused_connections"] == 0
            zk.disconnect()
        finally:
            hold.set()


def test_pyzk_reads_chunks_without_the_gap_the_node_clients_need(store):
    """pyzk reads the socket as a stream: its chunks are not paced (a gap of 30 s here would make
    every chunk outlast its 10 s socket timeout); a client whose connect frame counts reply ids
    from 1 (node-zklib, zkteco-js, anything unknown) still gets the announcement alone."""
    seed(store, [(f"S{i:04d}", f"员工{i}") for i in range(20)], 3000)   # 120,004 bytes: two TCP chunks
    with serving(store, frame_gap=30.0) as server:
        zk = connect_pyzk(server.port, timeout=10)
        attendance = zk.get_attendance()
        zk.disconnect()
        assert [(a.uid, a.user_id, a.timestamp) for a in attendance] == [
            (uid, no, local) for uid, no, local, _v in stored_punches(store)]

        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            frames = p.TcpFrames(1 << 20)

            def ask(command, reply, payload=b"", session=0, count=1):
                sock.sendall(p.tcp(p.frame(command, session, reply, payload)))
                got = []
                while len(got) < count:
                    got += frames.feed(sock.recv(65536))
                return got

            (hello,) = ask(p.CMD_CONNECT, 1)
            session = hello.session
            (ready,) = ask(p.CMD_DATA_WRRQ, 2, struct.pack("<bhii", 1, p.CMD_ATTLOG_RRQ, 0, 0), session)
            assert ready.command == p.ACK_OK
            (prepare,) = ask(p.CMD_READ_BUFFER, 3, struct.pack("<ii", 0, p.TCP_MAX_CHUNK), session)
            assert prepare.command == p.CMD_PREPARE_DATA
            # The data waits for the gap (30 s): nothing else is on the wire a second later.
            assert select.select([sock], [], [], 1.0)[0] == []

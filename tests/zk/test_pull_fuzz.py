"""The 4370 server under bad clients: 10,000 random and mutated frames over TCP and UDP, connect
floods, huge announced lengths, silent half-frames. It never crashes, leaks no thread, and answers
a real client correctly afterwards (the kiosk's frame rate under the fuzzer is a benchmark:
``daka bench zkpull``, BENCHMARKS.md)."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from app.zk.pull import PullOptions
from app.zk.pull import protocol as p
from app.zk.pull.fuzz import FrameFuzzer
from tests.helpers.waiting import wait_for
from tests.helpers.zk_pull import close_pyzk_clients, connect_pyzk, seed, serving, stored_punches, stored_users

FRAMES = 10_000


def _zk_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("zk-pull-tcp")}


def _check_a_real_client_still_reads(store, port):
    try:
        zk = connect_pyzk(port)
        users, punches = zk.get_users(), zk.get_attendance()
        zk.disconnect()
    finally:
        close_pyzk_clients()
    assert [(u.uid, u.user_id, u.name) for u in users] == stored_users(store)
    assert [(a.uid, a.user_id, a.timestamp) for a in punches] == [(u, n, t) for u, n, t, _v in stored_punches(store)]


def test_ten_thousand_bad_frames_crash_nothing_and_leak_no_thread(store):
    seed(store, [(f"F{i:03d}", f"员工{i}") for i in range(30)], 300)   # a chunked answer to fuzz too
    with serving(store, PullOptions(), idle_timeout=5.0) as server:
        fuzzer = FrameFuzzer("127.0.0.1", server.port, seed=19)
        sent = fuzzer.run(FRAMES)
        assert sent.frames >= FRAMES and sent.tcp_connections > 100 and sent.udp_datagrams > 1000
        wait_for(lambda: not _zk_threads(), timeout=60)          # every connection's thread ended
        assert server.status()["bad_frames"] > 0                  # it did see garbage, and lived
        _check_a_real_client_still_reads(store, server.port)
        assert all(t.is_alive() for t in server._threads if t.name in ("zk-pull-accept", "zk-pull-udp"))
    assert not _zk_threads()


def test_a_connect_flood_is_refused_beyond_the_limits_then_clients_are_served(store):
    seed(store, [("E1", "张伟")], 2)
    with serving(store, PullOptions(), per_address=4, max_connections=8) as server:
        flood = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(40)]
        try:
            wait_for(lambda: server.status()["refused_connections"] >= 36, timeout=30)
            assert server.status()["clients"] <= 4
        finally:
            for s in flood:
                s.close()
        wait_for(lambda: server.status()["clients"] == 0, timeout=30)
        _check_a_real_client_still_reads(store, server.port)


@pytest.mark.parametrize("bad", ["huge length", "lost magic", "half a frame, then silence"])
def test_bad_streams_are_closed(store, bad):
    with serving(store, idle_timeout=1.0) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.settimeout(30)
            hello = p.tcp(p.frame(p.CMD_CONNECT, 0, 0))
            if bad == "huge length":
                s.sendall(hello + p.TCP_MAGIC + struct.pack("<I", 0xFFFFFFFF) + b"x" * 100)
            elif bad == "lost magic":
                s.sendall(hello + b"GET / HTTP/1.0\r\n\r\n")
            else:
                s.sendall(hello + hello[:11])
            received = b""
            while chunk := s.recv(4096):   # the server answers the good frame, then closes
                received += chunk
        assert p.parse(received[8:16]).command == p.ACK_OK
        wait_for(lambda: server.status()["clients"] == 0, timeout=30)

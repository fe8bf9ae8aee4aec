"""The pull protocol's bytes: checksums, the comm key, times and records as the clients compute and
read them (pyzk 0.9's own functions are the reference), and the TCP stream cutter's limits."""

from __future__ import annotations

import datetime as dt
import random
import struct

import pytest
from zk import ZK
from zk.base import make_commkey

from app.zk.pull import protocol as p


def test_the_comm_key_is_pyzks():
    rng = random.Random(19)
    for _ in range(3000):
        key, session, ticks = rng.randrange(0, 1_000_000), rng.randrange(1, 65535), rng.randrange(256)
        assert p.comm_key(key, session, ticks) == make_commkey(key, session, ticks)
        assert p.comm_key_matches(key, session, make_commkey(key, session, ticks))
        assert not p.comm_key_matches(key + 1, session, make_commkey(key, session, ticks))


def test_frames_carry_pyzks_checksum():
    """The sum over the frame with a zero checksum field, as pyzk sums (its own frames sum the reply
    id before counting it up; clients do not check the sums they receive)."""
    zk = ZK("127.0.0.1", ommit_ping=True)
    zk._ZK__sock.close()
    rng = random.Random(4370)
    for _ in range(500):
        command, session, reply = rng.randrange(65536), rng.randrange(65536), rng.randrange(65536)
        payload = rng.randbytes(rng.randrange(0, 40))
        made = p.frame(command, session, reply, payload)
        bare = struct.pack("<4H", command, 0, session, reply) + payload
        assert made[2:4] == zk._ZK__create_checksum(tuple(bare))
        assert made[:2] + made[4:] == bare[:2] + bare[4:]


def test_times_round_trip_and_match_the_clients_formula():
    for t in (dt.datetime(2026, 11, 2, 8, 30), dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59),
              dt.datetime(2028, 2, 29, 12, 0, 1)):
        value = p.encode_time(t)
        assert p.decode_time(value) == t
        assert value == ((t.year % 100) * 12 * 31 + (t.month - 1) * 31 + t.day - 1) * 86400 + \
            (t.hour * 60 + t.minute) * 60 + t.second
    with pytest.raises(ValueError):
        p.decode_time(p.encode_time(dt.datetime(2026, 2, 28)) + 86400)   # 2026-02-29 does not exist


@pytest.mark.parametrize(("name", "kept"), [("张伟", "张伟"), ("欧阳娜娜娜娜娜娜娜", "欧阳娜娜娜娜娜"),
                                            ("A" * 30, "A" * 23), ("Zoë Ünal-Łukasz Øster", "Zoë Ünal-Łukasz Øster"[:19])])
def test_names_are_cut_on_a_character_boundary(name, kept):
    data = p.fit_utf8(name, 24)
    assert len(data) <= 23 and data.decode("utf-8") == kept


def test_records_have_the_clients_layout():
    user = p.user_record(7, "张伟", "E0007")
    assert len(user) == 72
    uid, privilege, _pw, name, card, _group, user_id = struct.unpack("<HB8s24sIx7sx24s", user)
    assert (uid, privilege, name.rstrip(b"\x00").decode(), card, user_id.rstrip(b"\x00")) == (7, 0, "张伟", 0, b"E0007")
    record = p.attendance_record(7, "E0007", dt.datetime(2026, 11, 2, 8, 30))
    uid, user_id, verify, when, state, _pad = struct.unpack("<H24sB4sB8s", record)
    assert (uid, user_id.rstrip(b"\x00"), verify, state) == (7, b"E0007", 15, 0)
    assert p.decode_time(struct.unpack("<I", when)[0]) == dt.datetime(2026, 11, 2, 8, 30)


def test_the_stream_cutter_keeps_frames_whole_and_bounded():
    frames = p.TcpFrames(limit=100)
    hello = p.tcp(p.frame(p.CMD_CONNECT, 0, 0)) + p.tcp(p.frame(p.CMD_GET_TIME, 9, 1, b"xy"))
    got = [f for i in range(len(hello)) for f in frames.feed(hello[i:i + 1])]   # byte by byte
    assert [(f.command, f.session, f.payload) for f in got] == [(p.CMD_CONNECT, 0, b""), (p.CMD_GET_TIME, 9, b"xy")]
    assert frames.pending == 0 and frames.broken is None
    got = frames.feed(p.tcp(p.frame(p.CMD_EXIT, 9, 2)) + p.TCP_MAGIC + struct.pack("<I", 101) + b"z" * 50)
    assert [f.command for f in got] == [p.CMD_EXIT] and "outside" in str(frames.broken)
    assert frames.pending == 0 and frames.feed(hello) == []   # broken stays broken, holds nothing
    lost = p.TcpFrames(limit=100)
    assert lost.feed(b"GET / HTTP/1.1\r\n") == [] and "frame start" in str(lost.broken)

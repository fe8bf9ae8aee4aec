"""PunchJournal: durable appends, torn tails skipped, seal/discard, replay after restart."""

from __future__ import annotations

import os
import uuid

from app.attendance.journal import PunchJournal, decode_segment, encode_record


def _rec(i):
    return {"uuid": str(uuid.uuid4()), "i": i, "name": "张三"}


def test_round_trip_and_replay_after_restart(tmp_path):
    j = PunchJournal(tmp_path)
    records = [_rec(i) for i in range(5)]
    for r in records:
        j.append(r)
    j.close()
    again = PunchJournal(tmp_path)
    assert again.pending() == records


def test_torn_or_corrupt_tail_is_skipped(tmp_path):
    good = [_rec(0), _rec(1)]
    blob = b"".join(encode_record(r) for r in good)
    torn = encode_record(_rec(2))
    for tail in (torn[:5], torn[:-1], torn[:-3] + b"xx\n", b"zzzzzzzz"):
        records, skipped = decode_segment(blob + tail)
        assert records == good and skipped == len(tail)
    flipped = bytearray(blob)
    flipped[30] ^= 0x01  # a bit flip inside the first record's JSON
    assert decode_segment(bytes(flipped))[0] == []


def test_append_after_a_torn_tail_starts_a_new_segment(tmp_path):
    j = PunchJournal(tmp_path)
    first = _rec(0)
    j.append(first)
    j.close()
    segment = sorted(tmp_path.iterdir())[0]
    data = segment.read_bytes()
    used = len(data.rstrip(b"\0"))
    with open(segment, "r+b") as fh:
        fh.seek(used)
        fh.write(encode_record(_rec(1))[:7])  # the crash tore this one
    j = PunchJournal(tmp_path)
    second = _rec(2)
    j.append(second)
    assert j.pending() == [first, second]
    sealed = j.seal()
    assert list(sealed.records) == [first, second]


def test_seal_then_discard_keeps_later_appends(tmp_path):
    j = PunchJournal(tmp_path)
    a, b = _rec(0), _rec(1)
    j.append(a)
    sealed = j.seal()
    j.append(b)  # arrives while the flush is storing `a`
    j.discard(sealed)
    assert j.pending() == [b]
    j.close()
    # `a` is still in the active segment: replayed after a restart, a no-op for the database
    assert PunchJournal(tmp_path).pending() == [a, b]


def test_full_segments_roll_over_and_are_deleted_once_stored(tmp_path):
    records = [_rec(i) for i in range(7)]
    j = PunchJournal(tmp_path, segment_bytes=3 * len(encode_record(records[0])) + 10)  # 3 fit
    for r in records[:4]:
        j.append(r)
    assert sorted(os.listdir(tmp_path)) == ["punches-000000000001.jnl"]  # next not prepared yet
    sealed = j.seal()  # prepares segment 2 on the flush thread
    assert sealed.records == tuple(records[:4]) and sealed.segments == ()
    for r in records[4:]:
        j.append(r)  # the full segment 1 is left for the prepared segment 2
    j.discard(sealed)
    sealed = j.seal()
    assert [p.name for p in sealed.segments] == ["punches-000000000001.jnl"]
    assert sealed.records == tuple(records[4:])
    j.discard(sealed)
    assert j.pending() == []
    names = sorted(os.listdir(tmp_path))
    assert "punches-000000000001.jnl" not in names and "punches-000000000002.jnl" in names
    j.close()
    assert [r["i"] for r in PunchJournal(tmp_path).pending()] == [4, 5, 6]


def test_a_crash_before_discard_replays_the_sealed_records(tmp_path):
    j = PunchJournal(tmp_path)
    a = _rec(0)
    j.append(a)
    j.seal()  # stored in the database, then the process died before discard
    j.close()
    assert PunchJournal(tmp_path).pending() == [a]


def test_segments_are_preallocated_and_can_overflow(tmp_path):
    j = PunchJournal(tmp_path, segment_bytes=1024)
    records = [_rec(i) for i in range(20)]  # about 2 KB: past the preallocated size
    for r in records:
        j.append(r)
    segment = sorted(tmp_path.iterdir())[0]
    assert segment.stat().st_size > 1024
    j.close()
    assert PunchJournal(tmp_path).pending() == records
    fresh = PunchJournal(tmp_path / "other", segment_bytes=4096)
    (only,) = list((tmp_path / "other").iterdir())
    assert only.read_bytes() == bytes(4096) and fresh.pending() == []

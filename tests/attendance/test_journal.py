"""PunchJournal: durable appends, torn tails skipped, seal/discard, replay after restart."""

from __future__ import annotations

import os
import uuid

import pytest
from loguru import logger

from app.attendance.journal import MARK_FILE, MARK_SLOT, PunchJournal, decode_segment, encode_record, read_mark
from app.instance import InstanceLocked


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
        scan = decode_segment(blob + tail + bytes(100))  # then the preallocated zeros
        assert scan.records == good and scan.torn == len(tail) and scan.damaged_records == 0
    assert decode_segment(blob + bytes(100)).torn == 0


def test_a_damaged_record_costs_that_record_only(tmp_path):
    records = [_rec(i) for i in range(4)]
    lines = [encode_record(r) for r in records]
    blob = b"".join(lines)
    for where in (len(lines[0]) + 30,   # a bit in the second record's JSON
                  len(lines[0]) + 2,    # in its length field
                  len(lines[0]) + 11):  # in its CRC field
        flipped = bytearray(blob)
        flipped[where] ^= 0x01
        scan = decode_segment(bytes(flipped) + bytes(64))
        assert scan.records == [records[0], records[2], records[3]]
        assert (scan.damaged_records, scan.damaged_bytes, scan.torn) == (1, len(lines[1]), 0)
    # the first record damaged: the reader still finds the second
    flipped = bytearray(blob)
    flipped[30] ^= 0x01
    assert decode_segment(bytes(flipped)).records == records[1:]
    # two records wiped to zeros in the middle (a lost block): resynced after them
    wiped = lines[0] + bytes(len(lines[1]) + len(lines[2])) + lines[3]
    scan = decode_segment(wiped)
    assert scan.records == [records[0], records[3]] and scan.damaged_records == 1 and scan.torn == 0


def test_a_damaged_record_on_disk_is_logged_and_the_rest_replayed(tmp_path):
    j = PunchJournal(tmp_path)
    records = [_rec(i) for i in range(4)]
    for r in records:
        j.append(r)
    j.close()
    segment = sorted(tmp_path.glob("*.jnl"))[0]
    data = bytearray(segment.read_bytes())
    data[data.index(b"\n") + 30] ^= 0x01  # one flipped bit in record 2 of 4 (the review's case)
    segment.write_bytes(bytes(data))
    messages = []
    sink = logger.add(lambda m: messages.append((m.record["level"].name, m.record["message"])))
    try:
        again = PunchJournal(tmp_path)
    finally:
        logger.remove(sink)
    assert again.pending() == [records[0], records[2], records[3]]
    assert [m for m in messages if "damaged" in m[1]] == [
        ("ERROR", f"journal {segment.name}: skipped 1 damaged record(s) ({len(encode_record(records[1]))} "
                  "bytes) and resynced at the next intact one; 3 intact records read")]
    assert not [m for m in messages if "torn" in m[1]], "a damaged middle record is no torn end"
    again.close()


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
    # `a` is still in the active segment, but the flushed mark says it is stored: not replayed
    assert PunchJournal(tmp_path).pending() == [b]


def test_stored_records_are_never_replayed_after_a_restart(tmp_path):
    """A punch deleted from the database after its flush (clear_data, retention) must stay deleted."""
    j = PunchJournal(tmp_path)
    stored = [_rec(i) for i in range(3)]
    for r in stored:
        j.append(r)
    j.discard(j.seal())
    j.close()
    again = PunchJournal(tmp_path)
    assert again.pending() == []
    later = _rec(9)
    again.append(later)
    again.close()
    assert PunchJournal(tmp_path).pending() == [later]


def test_new_segments_are_numbered_after_the_mark(tmp_path):
    # Every segment gone (deleted once stored), only the mark is left: new records must not be
    # taken for stored ones because their segment number starts again low.
    j = PunchJournal(tmp_path, segment_bytes=4096, reserve_segments=0)
    for i in range(3):
        j.append(_rec(i))
    j.discard(j.seal())
    j.close()
    for p in tmp_path.glob("*.jnl"):
        p.unlink()
    j = PunchJournal(tmp_path, segment_bytes=4096, reserve_segments=0)
    fresh = _rec(7)
    j.append(fresh)
    j.close()
    assert PunchJournal(tmp_path).pending() == [fresh]


def test_a_torn_mark_write_falls_back_to_the_other_slot(tmp_path):
    j = PunchJournal(tmp_path)
    a, b, c = _rec(0), _rec(1), _rec(2)
    j.append(a)
    j.discard(j.seal())          # mark 1: after a
    j.append(b)
    j.discard(j.seal())          # mark 2: after b (the other slot)
    j.append(c)
    j.close()
    seq, segment, offset = read_mark(tmp_path)
    assert seq == 2
    mark = tmp_path / MARK_FILE
    data = bytearray(mark.read_bytes())
    slot = (seq % 2) * MARK_SLOT
    data[slot + 20] ^= 0x04      # the newest slot torn by a power cut
    mark.write_bytes(bytes(data))
    assert read_mark(tmp_path)[0] == 1
    assert PunchJournal(tmp_path).pending() == [b, c]  # b replayed (a no-op for the database), not a


def test_one_writer_at_a_time(tmp_path):
    j = PunchJournal(tmp_path)
    with pytest.raises(InstanceLocked) as caught:
        PunchJournal(tmp_path)
    assert caught.value.pid == os.getpid() and f"PID {os.getpid()}" in str(caught.value)
    j.close()
    PunchJournal(tmp_path).close()  # released by close


def test_full_segments_roll_over_and_are_deleted_once_stored(tmp_path):
    records = [_rec(i) for i in range(7)]
    size = 3 * len(encode_record(records[0])) + 10  # 3 fit
    j = PunchJournal(tmp_path, segment_bytes=size, reserve_segments=1)
    assert _segments(tmp_path) == ["punches-000000000001.jnl", "punches-000000000002.jnl"]
    for r in records[:4]:
        j.append(r)  # the 4th goes to the reserve segment 2
    sealed = j.seal()  # refills the reserve (segment 3) on the flush thread
    assert sealed.records == tuple(records[:4])
    assert [p.name for p in sealed.segments] == ["punches-000000000001.jnl"]
    assert _segments(tmp_path)[-1] == "punches-000000000003.jnl"
    for r in records[4:]:
        j.append(r)
    j.discard(sealed)
    assert "punches-000000000001.jnl" not in _segments(tmp_path)
    assert j.pending() == records[4:]
    j.close()
    assert [r["i"] for r in PunchJournal(tmp_path, segment_bytes=size, reserve_segments=1).pending()] == [4, 5, 6]


def test_the_reserve_is_ready_and_survives_a_restart(tmp_path):
    j = PunchJournal(tmp_path, segment_bytes=4096, reserve_segments=3)
    assert j.reserve_left() == 3 and len(_segments(tmp_path)) == 4  # active + 3 ready
    j.append(_rec(0))
    j.close()
    before = {p.name: p.stat().st_ino for p in tmp_path.glob("*.jnl")}
    again = PunchJournal(tmp_path, segment_bytes=4096, reserve_segments=3)
    after = {p.name: p.stat().st_ino for p in tmp_path.glob("*.jnl")}
    # the never-written segments are reused (same files: 2 becomes the active one), the written
    # one is not appended to, and one segment is added to make the reserve whole again
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == ["punches-000000000005.jnl"]
    assert again.reserve_left() == 3 and len(again.pending()) == 1
    second = _rec(1)
    again.append(second)
    assert b'"i":1' in (tmp_path / "punches-000000000002.jnl").read_bytes()
    again.close()


def test_a_crash_before_discard_replays_the_sealed_records(tmp_path):
    j = PunchJournal(tmp_path)
    a = _rec(0)
    j.append(a)
    j.seal()  # stored in the database, then the process died before discard
    j.close()
    assert PunchJournal(tmp_path).pending() == [a]


def test_segments_are_preallocated_and_can_overflow(tmp_path):
    j = PunchJournal(tmp_path, segment_bytes=1024, reserve_segments=0)
    records = [_rec(i) for i in range(20)]  # about 2 KB: past the preallocated size
    for r in records:
        j.append(r)
    segment = sorted(tmp_path.glob("*.jnl"))[0]
    assert segment.stat().st_size > 1024
    j.close()
    assert PunchJournal(tmp_path, reserve_segments=0).pending() == records
    fresh = PunchJournal(tmp_path / "other", segment_bytes=4096, reserve_segments=0)
    (only,) = list((tmp_path / "other").glob("*.jnl"))
    assert only.read_bytes() == bytes(4096) and fresh.pending() == []
    fresh.close()


def _segments(folder):
    return sorted(p.name for p in folder.glob("*.jnl"))

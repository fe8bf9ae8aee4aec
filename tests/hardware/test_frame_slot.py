"""FrameSlot: latest frame wins, drops are counted, waits time out and wake on close."""

from __future__ import annotations

import threading
import time

import numpy as np

from app.hardware.frames import FrameSlot
from tests.helpers.waiting import wait_for


def _frame(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


def test_get_takes_the_newest_frame_and_counts_the_replaced_ones():
    slot = FrameSlot()
    for value in (1, 2, 3):
        slot.put(_frame(value), ts=100.0 + value)
    item = slot.get(timeout=0)
    assert item is not None
    assert int(item.frame[0, 0, 0]) == 3 and item.ts == 103.0 and item.seq == 3
    assert slot.dropped == 2 and slot.put_count == 3 and slot.taken_count == 1
    # the same frame is not handed out twice
    assert slot.get(timeout=0.05) is None
    slot.put(_frame(4))
    assert slot.get(timeout=0).seq == 4
    assert slot.dropped == 2  # frame 3 was taken before 4 replaced it


def test_latest_peeks_without_taking():
    slot = FrameSlot()
    assert slot.latest() is None
    slot.put(_frame(7), ts=1.0)
    assert slot.latest().seq == 1
    assert slot.get(timeout=0).seq == 1
    assert slot.latest().seq == 1  # still visible to a display


def _blocked_in_get(slot: FrameSlot) -> bool:
    """A thread is waiting inside ``get`` (the condition's waiters are CPython's ``_waiters``)."""
    return len(slot._cond._waiters) == 1


def test_get_times_out_then_wakes_on_put_and_on_close():
    slot = FrameSlot()
    t0 = time.monotonic()
    assert slot.get(timeout=0.1) is None
    assert time.monotonic() - t0 >= 0.09

    # the put and the close come once the waiter is blocked, however late its thread started
    got = []
    waiter = threading.Thread(target=lambda: got.append(slot.get(timeout=60)))
    waiter.start()
    wait_for(lambda: _blocked_in_get(slot), 60)
    slot.put(_frame(9))
    waiter.join(60)
    assert not waiter.is_alive() and got and got[0].seq == 1

    waiter = threading.Thread(target=lambda: got.append(slot.get(timeout=None)))
    waiter.start()
    wait_for(lambda: _blocked_in_get(slot), 60)
    slot.close()
    waiter.join(60)
    assert not waiter.is_alive() and got[-1] is None


def test_fast_producer_slow_consumer_never_queues():
    slot = FrameSlot()
    stop = threading.Event()

    def produce():
        value = 0
        while not stop.is_set():
            slot.put(_frame(value % 256))
            value += 1
            time.sleep(0.001)

    producer = threading.Thread(target=produce)
    producer.start()
    seqs = []
    try:
        for _ in range(10):
            item = slot.get(timeout=60)
            seqs.append(item.seq)
            # a slow consumer: at least two newer frames are put before it comes back (waited for, so
            # that a producer slowed down by a loaded machine cannot make the consumer the faster one)
            wait_for(lambda: slot.put_count >= item.seq + 2, 60)
    finally:
        stop.set()
        producer.join()
    # never an old frame: each get skips to the newest, past at least one replaced frame
    assert all(b - a >= 2 for a, b in zip(seqs, seqs[1:])), seqs
    assert slot.put_count == slot.taken_count + slot.dropped + (1 if slot.latest().seq > seqs[-1] else 0)
    assert slot.dropped >= 10

"""A one-slot "latest frame wins" buffer between a producer (camera) and consumers (vision, UI).

The one frame buffer of the terminal: the camera puts, the vision worker (app/vision/worker.py)
takes, the kiosk's live view peeks.
"""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

import numpy as np


class SlotFrame(NamedTuple):
    """A frame with its capture time and sequence number (the one stamped-frame type)."""

    frame: np.ndarray
    ts: float  # time.monotonic() when the frame was captured
    seq: int  # 1, 2, 3 ... in capture order


class FrameSlot:
    """Holds only the newest frame; a frame replaced before anyone took it is counted as dropped.

    ``get`` hands each frame to the taker at most once and waits for a newer one; ``latest`` peeks
    without taking (a display can show the newest frame while the vision worker takes them).
    Consumers must not modify the arrays they receive.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: SlotFrame | None = None
        self._taken_seq = 0
        self._closed = False
        self.put_count = 0
        self.taken_count = 0
        self.dropped = 0

    def put(self, frame: np.ndarray, ts: float | None = None) -> int:
        """Store ``frame`` (replacing any untaken one) and return its sequence number."""
        with self._cond:
            if self._item is not None and self._item.seq > self._taken_seq:
                self.dropped += 1
            self.put_count += 1
            self._item = SlotFrame(frame, time.monotonic() if ts is None else ts, self.put_count)
            self._cond.notify_all()
            return self.put_count

    def get(self, timeout: float | None = None) -> SlotFrame | None:
        """Take the newest frame not taken yet, waiting up to ``timeout`` s; None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed and (self._item is None or self._item.seq <= self._taken_seq):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._closed and (self._item is None or self._item.seq <= self._taken_seq):
                return None
            item = self._item
            assert item is not None
            self._taken_seq = item.seq
            self.taken_count += 1
            return item

    def latest(self) -> SlotFrame | None:
        """The newest frame, taken or not (None before the first)."""
        with self._cond:
            return self._item

    def close(self) -> None:
        """Wake every waiting ``get`` (it returns None); later puts are still accepted."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

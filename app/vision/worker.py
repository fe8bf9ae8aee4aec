"""The vision worker thread and the one-slot latest-frame buffer it reads from.

A camera thread `put()`s every frame it reads into a `LatestFrameSlot`; a newer frame replaces
an unread one (counted as dropped), so the worker always works on the freshest view and never
falls behind a queue. The worker hands each `FrameResult` to a callback (a UI schedules it
onto its own thread; the worker never touches widgets).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from loguru import logger


@dataclass(frozen=True)
class StampedFrame:
    frame: np.ndarray
    timestamp: float   # monotonic seconds when the frame was captured
    sequence: int      # 0, 1, 2, ... in the order frames were put


class LatestFrameSlot:
    """Holds at most one frame: put() replaces, get() takes (waiting for a new one)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: StampedFrame | None = None
        self._closed = False
        self._sequence = 0
        self.dropped = 0

    def put(self, frame: np.ndarray, timestamp: float | None = None) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("frame slot is closed")
            if self._item is not None:
                self.dropped += 1
            self._item = StampedFrame(frame, time.monotonic() if timestamp is None else timestamp,
                                      self._sequence)
            self._sequence += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> StampedFrame | None:
        """The newest unread frame; None when closed (and drained) or on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self._closed, timeout):
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class VisionWorker(threading.Thread):
    """Run a pipeline over a frame source on its own thread until the source ends or stop()."""

    def __init__(self, pipeline, source: LatestFrameSlot | Iterable[np.ndarray],
                 on_result: Callable | None = None, name: str = "vision"):
        super().__init__(name=name, daemon=True)
        self.pipeline = pipeline
        self.source = source
        self.on_result = on_result
        self._halt = threading.Event()
        self.processed = 0
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._halt.set()
        if isinstance(self.source, LatestFrameSlot):
            self.source.close()

    def _frames(self):
        if isinstance(self.source, LatestFrameSlot):
            while not self._halt.is_set():
                item = self.source.get(timeout=0.1)
                if item is None:
                    if self.source.closed:
                        return
                    continue
                yield item.frame, item.timestamp
        else:
            for frame in self.source:
                if self._halt.is_set():
                    return
                yield frame, None

    def run(self) -> None:
        try:
            for frame, timestamp in self._frames():
                result = self.pipeline.process(frame, timestamp)
                self.processed += 1
                if self.on_result is not None:
                    self.on_result(result)
        except BaseException as exc:  # reported to whoever joins; the thread must not die silently
            self.error = exc
            logger.exception("vision worker stopped on an error")

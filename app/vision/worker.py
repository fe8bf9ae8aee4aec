"""The vision worker thread: it runs the pipeline over the camera's one-slot latest-frame buffer.

A camera thread `put()`s every frame it reads into a `FrameSlot` (app/hardware/frames.py); a
newer frame replaces an unread one (counted as dropped), so the worker always works on the
freshest view and never falls behind a queue. The worker hands each `FrameResult` to a callback
(the terminal fans it out; a UI schedules it onto its own thread; the worker never touches
widgets). An iterable of frames (a clip, a bench) is accepted too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import numpy as np
from loguru import logger

from app.hardware.frames import FrameSlot

#: how long one wait on the slot lasts: the longest a stop() waits for the worker to notice
SLOT_WAIT_S = 0.1


class VisionWorker(threading.Thread):
    """Run a pipeline over a frame source on its own thread until stop() (or the iterable ends).

    Over a `FrameSlot` the capture timestamps go to the pipeline with the frames. The slot
    belongs to the camera (which closes it when it stops): the worker only takes from it.
    """

    def __init__(self, pipeline, source: FrameSlot | Iterable[np.ndarray],
                 on_result: Callable | None = None, name: str = "vision"):
        super().__init__(name=name, daemon=True)
        self.pipeline = pipeline
        self.source = source
        self.on_result = on_result
        self._halt = threading.Event()
        self.processed = 0
        self.frame: np.ndarray | None = None   # the frame being processed (on_result may read it)
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._halt.set()

    def _frames(self):
        if isinstance(self.source, FrameSlot):
            while not self._halt.is_set():
                item = self.source.get(timeout=SLOT_WAIT_S)
                if item is None:
                    if self.source.closed:   # the camera stopped: wait for it or for stop(), not spin
                        self._halt.wait(SLOT_WAIT_S)
                    continue
                yield item.frame, item.ts
        else:
            for frame in self.source:
                if self._halt.is_set():
                    return
                yield frame, None

    def run(self) -> None:
        try:
            for frame, timestamp in self._frames():
                self.frame = frame
                result = self.pipeline.process(frame, timestamp)
                self.processed += 1
                if self.on_result is not None:
                    self.on_result(result)
        except BaseException as exc:  # reported to whoever joins; the thread must not die silently
            self.error = exc
            logger.exception("vision worker stopped on an error")

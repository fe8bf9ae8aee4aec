"""Frame intervals of the UI thread, split into our own time and the OS scheduler's.

A long interval between two frames is either the UI thread busy or waiting on something
(our fault: a blocking call, a held lock or GIL) or the thread ready to run but not given a
core (the machine is shared: not our fault). Linux counts both per thread in
/proc/self/task/<tid>/schedstat: time on a CPU and time waiting on a run queue. Per interval
we keep the wall time, the wall time less the run-queue wait ("own": still includes waiting
for the GIL while its holder waits for a CPU) and the UI thread's CPU time (work done on the
UI thread itself, immune to the machine's load).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def _schedstat_path() -> Path | None:
    path = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    return path if path.exists() else None


@dataclass
class FrameProbe:
    """Call `frame()` once per UI loop iteration (a Clock tick), on the UI thread, and `drawn()`
    on each window redraw."""

    intervals: list[float] = field(default_factory=list)   # wall seconds between frames
    own: list[float] = field(default_factory=list)         # the same minus run-queue waits
    cpu: list[float] = field(default_factory=list)         # UI thread CPU time in the interval
    draws: int = 0                                         # window redraws (Kivy draws on change only)
    _since: float | None = None
    _last: float | None = None
    _last_wait: float = 0.0
    _last_cpu: float = 0.0
    _path: Path | None = None

    def frame(self) -> None:
        now = time.perf_counter()
        if self._path is None:
            self._path = _schedstat_path() or Path("/nonexistent")
        cpu, wait = self._schedstat()
        if self._since is None:
            self._since = now
        if self._last is not None:
            dt = now - self._last
            self.intervals.append(dt)
            self.own.append(max(0.0, dt - (wait - self._last_wait)))
            self.cpu.append(cpu - self._last_cpu)
        self._last, self._last_wait, self._last_cpu = now, wait, cpu

    def drawn(self, *_args) -> None:
        """Call from the window's on_draw."""
        self.draws += 1

    def _schedstat(self) -> tuple[float, float]:
        """(seconds on a CPU, seconds waiting on a run queue) of this thread so far."""
        try:
            on_cpu, waiting = self._path.read_text().split()[:2]
            return int(on_cpu) / 1e9, int(waiting) / 1e9
        except (OSError, ValueError):
            return time.thread_time(), 0.0

    def reset(self) -> None:
        self.intervals.clear()
        self.own.clear()
        self.cpu.clear()
        self._last = self._since = None
        self.draws = 0

    def summary(self) -> dict:
        if not self.intervals:
            return {"frames": 0}
        ordered = sorted(self.intervals)
        median = ordered[len(ordered) // 2]
        return {
            "frames": len(self.intervals),
            "redraws_per_s": round(self.draws / max(1e-9, self._last - self._since), 1),
            "fps_median": round(1.0 / median, 1) if median > 0 else None,
            "fps_mean": round(len(self.intervals) / sum(self.intervals), 1),
            "worst_interval_ms": round(1000 * ordered[-1], 1),
            "p99_interval_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
            "worst_own_interval_ms": round(1000 * max(self.own), 1),
            "p95_own_interval_ms": round(1000 * sorted(self.own)[int(0.95 * (len(self.own) - 1))], 1),
            "worst_ui_cpu_ms": round(1000 * max(self.cpu), 1),
            "schedstat": self._path is not None and self._path.exists(),
        }

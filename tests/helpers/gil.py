"""Whether native code releases the GIL: a Python thread keeps ticking while it runs."""

from __future__ import annotations

import threading
import time


def python_keeps_running_during(call) -> tuple[float, float]:
    """Run call() while a Python thread ticks; return (call duration, longest tick gap inside it)."""
    ticks: list[float] = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.02)
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    stop.set()
    thread.join()
    inside = [t for t in ticks if t0 <= t <= t1]
    points = [t0] + inside + [t1]
    return t1 - t0, max(b - a for a, b in zip(points, points[1:]))

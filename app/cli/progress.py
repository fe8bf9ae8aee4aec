"""A one-line progress bar on stderr (stdout stays clean for JSON)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, label: str = "", stream=None, width: int = 30):
        self.total, self.label, self.width = max(total, 0), label, width
        self.stream = stream or sys.stderr
        self._last = 0.0

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if done < self.total and now - self._last < 0.1:
            return
        self._last = now
        filled = int(self.width * done / self.total) if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note[:40]:<40}")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()

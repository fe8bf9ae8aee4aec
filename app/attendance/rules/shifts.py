"""A shift as the engine uses it: every time as minutes, checked once when loaded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DAY = 1440
# A day's punches start this long before its shift (an early arrival still counts for that day).
EARLY_WINDOW_MIN = 240


def minutes(t: dt.time | None) -> int | None:
    return None if t is None else t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class ShiftRule:
    """Minutes from the working day's midnight; ``end`` > ``start`` always (a night shift's end
    is past 1440: it ends the next calendar day)."""

    id: int
    name: str
    kind: str           # fixed | flexible
    start: int
    end: int
    punches: str        # in | in_out | four
    lunch_start: int | None
    lunch_end: int | None
    late_grace: int
    early_grace: int
    break_min: int
    overtime_after: int | None
    absent_after: int | None
    required: int | None

    @property
    def crosses_midnight(self) -> bool:
        return self.end > DAY

    @classmethod
    def from_row(cls, row) -> ShiftRule:
        start, end = minutes(row.start), minutes(row.end)
        if end <= start:
            end += DAY
        lunch_start, lunch_end = minutes(row.lunch_start), minutes(row.lunch_end)
        if lunch_start is not None and lunch_start < start:
            lunch_start += DAY  # a night shift's meal break after midnight
        if lunch_end is not None and lunch_start is not None and lunch_end <= lunch_start:
            lunch_end += DAY
        return cls(row.id, row.name, row.kind, start, end, row.punches, lunch_start, lunch_end,
                   row.late_grace_min, row.early_grace_min, row.break_min, row.overtime_after_min,
                   row.absent_after_min, row.required_minutes)

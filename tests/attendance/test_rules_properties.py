"""Properties of the day-status engine (issue 24), on many generated shifts and punch times: no
punch is counted for two days, every shift's own punches land on its working day (night shifts
included), and late/early follow the grace minutes exactly."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from app.attendance.queries import EPOCH
from app.attendance.rules.engine import _person
from app.attendance.rules.plan import RulesSnapshot, SchedulePlan
from app.attendance.rules.shifts import DAY, ShiftRule
from app.attendance.rules.workcalendar import WorkCalendar

FIRST, LAST = dt.date(2026, 3, 2), dt.date(2026, 3, 15)
NOW = (dt.date(2030, 1, 1) - EPOCH).days * DAY


def _snapshot(shift: ShiftRule, cycle=None) -> RulesSnapshot:
    plan = SchedulePlan(1, "s", "weekly", None, False, cycle or [shift] * 7)
    return RulesSnapshot([], {1: plan}, {}, {}, [(dt.date(2000, 1, 1), None, 1)], {}, WorkCalendar())


def _days(snapshot, punches):
    dates = [FIRST + dt.timedelta(days=i) for i in range(-1, (LAST - FIRST).days + 2)]
    person = (1, "1", "x", "", None, None)
    return _person(snapshot, person, FIRST, LAST, sorted(punches), NOW, dates, {})


shifts = st.builds(
    lambda start, length, late, early: ShiftRule(1, "s", "fixed", start, start + length, "in_out", None, None,
                                                 late, early, 0, None, None, None),
    start=st.integers(0, DAY - 1), length=st.integers(60, 14 * 60), late=st.integers(0, 30),
    early=st.integers(0, 30))


@settings(max_examples=200, deadline=None)
@given(shift=shifts, offsets=st.lists(st.tuples(st.integers(-120, 120), st.integers(-120, 120)),
                                      min_size=14, max_size=14))
def test_each_day_gets_its_own_in_and_out(shift, offsets):
    """An in within two hours of the start and an out within two hours of the end, every day: each
    day sees exactly its two punches, and late/early are exactly what the grace says."""
    punches = []
    for i, (d_in, d_out) in enumerate(offsets):
        base = ((FIRST - EPOCH).days + i) * DAY
        punches += [base + shift.start + d_in, base + shift.end + d_out]
    days = _days(_snapshot(shift), punches)
    assert len(days) == 14
    for r, (d_in, d_out) in zip(days, offsets):
        length = shift.end - shift.start
        if 2 * d_in > length or 2 * d_out <= -length:
            continue  # the in after the shift's middle, or the out before it: a missing punch instead
        assert r.punches == 2, (r, d_in, d_out)
        assert r.late_min == (d_in if d_in > shift.late_grace else 0)
        assert r.early_min == (-d_out if -d_out > shift.early_grace else 0)
        assert r.status == ("late" if r.late_min else "early" if r.early_min else "normal")


@settings(max_examples=200, deadline=None)
@given(shift=shifts, rest=st.lists(st.booleans(), min_size=7, max_size=7),
       punches=st.lists(st.integers(0, 16 * DAY), max_size=60))
def test_no_punch_is_counted_twice(shift, rest, punches):
    cycle = [None if r else shift for r in rest]
    base = ((FIRST - EPOCH).days - 1) * DAY
    days = _days(_snapshot(shift, cycle), [base + p for p in punches])
    assert sum(r.punches for r in days) <= len(punches)
    for r in days:
        assert r.late_min >= 0 and r.early_min >= 0 and r.overtime_min >= 0 and r.missing in (0, 1, 2)
        if r.status in ("rest", "overtime"):
            assert not r.due
        if r.status == "absent":
            assert r.due

"""Building blocks of the attendance-rules tests: people, shifts, schedules and punches."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from tests.helpers.admin_app import add_punch

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2030, 1, 1)  # far after every day the tests look at: no day is still running


def t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def person(store, staff_no: str, name: str = "张三", department: str = "生产部", *, hire=None, leave=None) -> int:
    from app.store import Staff

    with store.session() as s:
        st = Staff(staff_no=staff_no, name=name, department=department, hire_date=hire, leave_date=leave)
        s.add(st)
        s.flush()
        return st.id


def punch(store, staff_id: int, staff_no: str, when: str, source: str = "face") -> int:
    return add_punch(store, staff_id, staff_no, "张三", dt.datetime.fromisoformat(when), source=source)


def shift(store, name="白班", start="09:00", end="18:00", **kw) -> int:
    from app.attendance import rules

    return rules.save_shift(store, rules.ShiftSpec(name=name, start=t(start), end=t(end), **kw), "test")


def weekly(store, shift_id: int, *, name="标准", weekend=False, follow_calendar=True, department=None,
           staff_id=None, first="2020-01-01") -> int:
    """Monday to Friday ``shift_id`` (and the weekend too with ``weekend``), assigned from ``first``."""
    from app.attendance import rules

    cycle = [shift_id] * 5 + ([shift_id] * 2 if weekend else [None, None])
    sid = rules.save_schedule(store, name, "weekly", cycle, "test", follow_calendar=follow_calendar)
    rules.assign_schedule(store, sid, d(first), "test", staff_id=staff_id, department=department)
    return sid


def days_of(store, staff_id: int, first: str, last: str, now=NOW) -> dict:
    from app.attendance import rules

    people = rules.compute_days(store, d(first), d(last), TZ, staff_ids=[staff_id], now=now)
    return {r.date.isoformat(): r for r in people[0].days} if people else {}

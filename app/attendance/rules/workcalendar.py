"""The work calendar: weekends, China's public holidays and 调休 working days, company days.

The public calendar comes from PyPI ``chinesecalendar`` (module ``chinese_calendar``), which
carries the State Council's announced holidays and make-up working days year by year
(1.11.0: 2004 to 2026). A year it does not know yet raises ``NotImplementedError`` there; here
such a year falls back to Monday–Friday work, Saturday–Sunday rest, and :meth:`WorkCalendar.known`
says so, so that the admin can warn HR to upgrade the package (or enter the year's days as
company days) once the year's schedule is announced (usually in November).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import chinese_calendar
from chinese_calendar import constants as _cc

# day kinds
WORKDAY, WEEKEND, HOLIDAY, MAKEUP_WORKDAY, COMPANY_OFF, COMPANY_WORK = (
    "workday", "weekend", "holiday", "makeup_workday", "company_off", "company_work")
_CHINESE = {h.value: h.chinese for h in _cc.Holiday}


@cache
def covered_years() -> tuple[int, int]:
    """The first and last year the installed ``chinesecalendar`` knows."""
    years = [d.year for d in _cc.holidays] + [d.year for d in _cc.workdays]
    return min(years), max(years)


@dataclass(frozen=True)
class CalendarDay:
    kind: str
    name: str = ""  # the holiday's (Chinese) name, or the company day's

    @property
    def working(self) -> bool:
        return self.kind in (WORKDAY, MAKEUP_WORKDAY, COMPANY_WORK)


class WorkCalendar:
    """What a date is: built once per computation with the company's own days."""

    def __init__(self, company_days: dict[dt.date, tuple[str, str]] | None = None):
        self.company_days = company_days or {}
        self._memo: dict[dt.date, CalendarDay] = {}

    @staticmethod
    def known(year: int) -> bool:
        first, last = covered_years()
        return first <= year <= last

    def day(self, date: dt.date) -> CalendarDay:
        hit = self._memo.get(date)
        if hit is None:
            hit = self._memo[date] = self._day(date)
        return hit

    def _day(self, date: dt.date) -> CalendarDay:
        own = self.company_days.get(date)
        if own is not None:
            kind, name = own
            return CalendarDay(COMPANY_OFF if kind == "off" else COMPANY_WORK, name)
        weekend = date.weekday() >= 5
        if not self.known(date.year):  # not announced yet (or too old): the plain week
            return CalendarDay(WEEKEND if weekend else WORKDAY)
        holiday, name = chinese_calendar.get_holiday_detail(date)
        name = _CHINESE.get(name, name or "")
        if holiday:
            return CalendarDay(WEEKEND, "") if weekend and not name else CalendarDay(HOLIDAY, name)
        if weekend:
            return CalendarDay(MAKEUP_WORKDAY, name)
        return CalendarDay(WORKDAY)

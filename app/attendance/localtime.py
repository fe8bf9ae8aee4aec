"""Terminal-local dates and times: parsing what people type, formatting stored UTC times.

Stored punches carry their UTC instant and their terminal-local date (the zone in force when
they were made). A person names days and times in the terminal's zone; lists show each punch's
instant in the zone the admin runs in now.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo


class BadRange(ValueError):
    pass


TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
# The dates a query may name. Python's datetime ends at years 1 and 9999, so a day's end or a
# zone shift at either edge overflows; no punch is ever that old or that far ahead.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(9998, 12, 31)


def check_date(day: dt.date) -> dt.date:
    if not FIRST_DATE <= day <= LAST_DATE:
        raise BadRange(f"{day.isoformat()} is out of range ({FIRST_DATE.year} to {LAST_DATE.year})")
    return day


def parse_local(text: str, tz: zoneinfo.ZoneInfo, *, end: bool = False) -> dt.datetime:
    """A terminal-local time as naive UTC; a bare date is the start (or, with end, the end) of it."""
    text = (text or "").strip()
    for fmt in TIME_FORMATS:
        try:
            t = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        check_date(t.date())
        if end:  # the end is inclusive to its last unit: a day, a minute or a second
            t += {"%Y-%m-%d": dt.timedelta(days=1)}.get(fmt, dt.timedelta(minutes=1) if fmt.endswith("%M")
                                                        else dt.timedelta(seconds=1))
        return t.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)
    raise BadRange(f"{text!r} is not a time like 2022-04-18 15:56:00")


def local_time_of(utc_naive: dt.datetime | None, tz) -> str | None:
    if utc_naive is None:
        return None
    return utc_naive.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


class LocalTimes:
    """Format many UTC times as terminal-local text; the zone offset is looked up once per slot."""

    MAX_SLOTS = 1024  # bounded: over a range of years, each punch may have a slot of its own

    def __init__(self, tz):
        self.tz = tz
        self._offsets: dict[tuple, dt.timedelta] = {}

    def __call__(self, utc_naive: dt.datetime) -> str:
        # Zone offsets are whole quarter hours and change at whole local hours, so a change never
        # falls inside a quarter-hour slot of UTC.
        t = utc_naive
        slot = (t.year, t.month, t.day, t.hour, t.minute // 15)
        offset = self._offsets.get(slot)
        if offset is None:
            if len(self._offsets) >= self.MAX_SLOTS:  # rows come in time order: old slots are done
                self._offsets.clear()
            start = dt.datetime(*slot[:4], slot[4] * 15, tzinfo=dt.UTC)
            offset = self._offsets[slot] = start.astimezone(self.tz).utcoffset()
        return (t + offset).isoformat(" ", "seconds")


def fixed_offset(tz, start_utc: dt.datetime, end_utc: dt.datetime) -> dt.timedelta | None:
    """The zone's offset if it is the same over the whole range, else None.

    Zones change offset at most a few times a year, months apart: within 30 days, equal offsets
    at both ends mean no change in between.
    """
    if end_utc - start_utc > dt.timedelta(days=30):
        return None
    first = start_utc.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset()
    last = end_utc.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset()
    return first if first == last else None


def database_offset(tz, start_utc: dt.datetime, end_utc: dt.datetime) -> dt.timedelta | None:
    """The offset the database may add to format local times: the same over the range and whole
    minutes (local mean times before 1900, such as Shanghai's +08:05:43, are not); else None."""
    offset = fixed_offset(tz, start_utc, end_utc)
    return None if offset is None or offset % dt.timedelta(minutes=1) else offset

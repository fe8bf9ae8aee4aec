"""Per person and day: first punch, last punch, number of punches — the month report's figures.

On a SQLite file they are computed from :func:`app.attendance.queries.punch_columns` with numpy:
the columns come in (local date, time, id) order, so within one person's day the first occurrence
is the first punch and the last occurrence the last one; no Python object is made per punch, only
per person-day. A PostgreSQL server aggregates faster itself (GROUP BY; measured by
`daka bench store`), so there the query does it.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
from sqlalchemy import func, select

from app.store import Punch, Store

from . import queries
from .queries import EPOCH, punch_columns

_DAY_BITS = 22  # local dates as days since 1970 stay below 2**22 (year 9999 is day 2,932,896)


class PersonDay(NamedTuple):
    first_utc: dt.datetime  # naive UTC
    last_utc: dt.datetime
    count: int


def person_days(store: Store, first: dt.date, last: dt.date, *,
                staff_id: int | None = None) -> dict[tuple[int, dt.date], PersonDay]:
    """(staff id, local date) -> first and last punch and count, for punches of known staff."""
    if queries._native_reader(store) is None:
        return person_days_grouped(store, first, last, staff_id)
    cols = punch_columns(store, first, last, staff_id=staff_id)
    known = cols.staff_id >= 0
    staff, day, at = cols.staff_id[known].astype(np.int64), cols.day[known].astype(np.int64), cols.punched_at_us[known]
    if len(staff) == 0:
        return {}
    key = (staff << _DAY_BITS) | (day - day.min())
    keys, first_index, counts = np.unique(key, return_index=True, return_counts=True)
    # the last occurrence of each key: the first in the reversed array
    _, last_from_end = np.unique(key[::-1], return_index=True)
    last_index = len(key) - 1 - last_from_end
    epoch = dt.datetime(1970, 1, 1)
    us = dt.timedelta(microseconds=1)
    out = {}
    for s, d, f, l, n in zip(staff[first_index].tolist(), day[first_index].tolist(), at[first_index].tolist(),
                             at[last_index].tolist(), counts.tolist()):
        out[(s, EPOCH + dt.timedelta(days=d))] = PersonDay(epoch + f * us, epoch + l * us, n)
    return out


def person_days_grouped(store: Store, first: dt.date, last: dt.date,
                        staff_id: int | None = None) -> dict[tuple[int, dt.date], PersonDay]:
    """:func:`person_days` by the database's GROUP BY (PostgreSQL; the benchmark's baseline)."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    query = (select(Punch.staff_id, Punch.local_date, func.min(Punch.punched_at), func.max(Punch.punched_at),
                    func.count())
             .where(Punch.local_date >= first, Punch.local_date <= last, Punch.staff_id.is_not(None))
             .group_by(Punch.staff_id, Punch.local_date))
    if staff_id is not None:
        query = query.where(Punch.staff_id == staff_id)
    with store.engine.connect() as conn:
        return {(sid, day): PersonDay(lo, hi, n) for sid, day, lo, hi, n in conn.execute(query)}

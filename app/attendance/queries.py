"""Punches between two terminal-local dates: the lists behind the admin, exports and reports.

A month for 1,000 staff is ~44,000 rows. Building them through SQLAlchemy's per-row result
processing costs about three times what the driver itself needs (measured by ``daka bench
store``), so these queries ask for raw column values and convert them once, in one pass:

- the time comes back from SQLite as text and is parsed with ``datetime.fromisoformat``;
  PostgreSQL's driver returns it as a ``datetime`` already;
- the rows are read in the order of the covering index ``ix_punches_local_date_time``
  (local date, UTC time, id), so the database neither sorts nor visits the table.

:func:`iter_punch_range` streams the same rows in batches by keyset, for exports of any size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import NamedTuple

from sqlalchemy import Select, String, func, select, tuple_, type_coerce

from app.store import Store
from app.store.models import Punch


class PunchRow(NamedTuple):
    local_date: dt.date
    punched_at: dt.datetime  # naive UTC
    staff_id: int | None
    staff_no: str
    name: str
    source: str


def _columns(sqlite: bool):
    if sqlite:  # no per-row processors: plain text and ints straight from the driver
        return (type_coerce(Punch.local_date, String), type_coerce(Punch.punched_at, String),
                Punch.staff_id, Punch.staff_no, Punch.name, Punch.source)
    return (Punch.local_date, Punch.punched_at, Punch.staff_id, Punch.staff_no, Punch.name,
            Punch.source)


_ORDER = (Punch.local_date, Punch.punched_at, Punch.id)  # the covering index's order


def _filtered(query: Select, first: dt.date, last: dt.date, staff_id: int | None,
              after: tuple | None = None) -> Select:
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    if after is None:
        query = query.where(Punch.local_date >= first)
    else:  # a row value (local date, time, id) is itself the lower bound: an index range, no skipping
        query = query.where(tuple_(*_ORDER) > tuple_(*after))
    query = query.where(Punch.local_date <= last)
    if staff_id is not None:
        query = query.where(Punch.staff_id == staff_id)
    return query


def _convert(rows, sqlite: bool) -> list[PunchRow]:
    if not sqlite:
        return [PunchRow(*r) for r in rows]
    day, moment, make = dt.date.fromisoformat, dt.datetime.fromisoformat, PunchRow
    return [make(day(d), moment(t), sid, no, name, src) for d, t, sid, no, name, src in rows]


def punch_range(store: Store, first: dt.date, last: dt.date, *,
                staff_id: int | None = None) -> list[PunchRow]:
    """Every punch from ``first`` to ``last`` (terminal-local dates, both included), in time order."""
    sqlite = store.dialect == "sqlite"
    query = _filtered(select(*_columns(sqlite)), first, last, staff_id)
    query = query.order_by(*_ORDER)
    with store.engine.connect() as conn:
        return _convert(conn.execute(query), sqlite)


def count_range(store: Store, first: dt.date, last: dt.date, *, staff_id: int | None = None) -> int:
    query = _filtered(select(func.count()).select_from(Punch), first, last, staff_id)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def iter_punch_range(store: Store, first: dt.date, last: dt.date, *, staff_id: int | None = None,
                     batch: int = 5000) -> Iterator[PunchRow]:
    """The rows of :func:`punch_range`, fetched ``batch`` at a time (keyset, no OFFSET).

    Each batch is its own short query, so a slow consumer (a download) holds no read
    transaction open and the flush job is never kept waiting.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    sqlite = store.dialect == "sqlite"
    columns = (*_columns(sqlite), Punch.id)
    key: tuple | None = None
    while True:
        query = _filtered(select(*columns), first, last, staff_id, after=key)
        query = query.order_by(*_ORDER).limit(batch)
        with store.engine.connect() as conn:
            raw = conn.execute(query).all()
        if not raw:
            return
        rows = _convert((r[:6] for r in raw), sqlite)
        yield from rows
        last_row = raw[-1]
        key = (rows[-1].local_date, rows[-1].punched_at, last_row[6])
        if len(raw) < batch:
            return

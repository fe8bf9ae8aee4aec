"""Punches between two terminal-local dates: the lists behind the admin, exports and reports.

A month for 1,000 staff is ~44,000 rows. Building them through SQLAlchemy's per-row result
processing costs about three times what the driver itself needs (measured by ``daka bench
store``), so these queries ask for raw column values and convert them once, in one pass:

- the time comes back from SQLite as text and is parsed with ``datetime.fromisoformat``;
  PostgreSQL's driver returns it as a ``datetime`` already;
- the rows are read in the order of the covering index ``ix_punches_local_date_time``
  (local date, UTC time, id), so the database neither sorts nor visits the table.

:func:`iter_punch_range` streams the same rows in batches by keyset, for exports of any size.

:func:`punch_columns` answers the same question as numpy columns. On SQLite the C++ core reads
the covering index itself (``app.native.PunchReader``) and no Python object is made per row: a
month for 1,000 staff in a fraction of the time the row list needs. Reports and summaries that
aggregate whole months start from it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
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


def keyset_batches(store: Store, query_after: Callable[[tuple | None], Select],
                   key_of: Callable[[Any], tuple], batch: int) -> Iterator[list]:
    """The rows of an ordered query, ``batch`` at a time, by keyset (no OFFSET).

    ``query_after(None)`` is the first query, ``query_after(key_of(last row))`` each next one
    (ordered, not yet limited). Each batch is its own short query, so a slow consumer (a
    download) holds no read transaction open and the flush job is never kept waiting.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    after: tuple | None = None
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(query_after(after).limit(batch)).all()
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = key_of(rows[-1])


def iter_punch_range(store: Store, first: dt.date, last: dt.date, *, staff_id: int | None = None,
                     batch: int = 5000) -> Iterator[PunchRow]:
    """The rows of :func:`punch_range`, fetched ``batch`` at a time (:func:`keyset_batches`)."""
    sqlite = store.dialect == "sqlite"
    columns = (*_columns(sqlite), Punch.id)

    def query_after(after: tuple | None) -> Select:
        return _filtered(select(*columns), first, last, staff_id, after=after).order_by(*_ORDER)

    def key_of(raw) -> tuple:  # (local date, time, id) as the typed values the bound needs
        row = _convert([raw[:6]], sqlite)[0]
        return row.local_date, row.punched_at, raw[6]

    for raw in keyset_batches(store, query_after, key_of, batch):
        yield from _convert((r[:6] for r in raw), sqlite)

EPOCH = dt.date(1970, 1, 1)
_EPOCH_TIME = dt.datetime(1970, 1, 1)


@dataclass(frozen=True, eq=False)
class PunchColumns:
    """The punches of a range as columns, one entry per punch, in (local date, time, id) order.

    Texts that repeat are stored once: ``people[person[i]]`` is the (staff no, name) snapshot of
    punch ``i``, ``sources[source[i]]`` its source.
    """

    day: np.ndarray            # int32, local date as days since 1970-01-01
    punched_at_us: np.ndarray  # int64, UTC microseconds since 1970-01-01 00:00
    id: np.ndarray             # int64
    staff_id: np.ndarray       # int32, -1 where the staff row is gone
    person: np.ndarray         # int32 index into people
    source: np.ndarray         # uint8 index into sources
    people: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.id)

    def rows(self) -> Iterator[PunchRow]:
        """The punches as :class:`PunchRow` (what :func:`punch_range` returns), one at a time."""
        for d, us, sid, person, src in zip(self.day.tolist(), self.punched_at_us.tolist(),
                                            self.staff_id.tolist(), self.person.tolist(),
                                            self.source.tolist()):
            no, name = self.people[person]
            yield PunchRow(EPOCH + dt.timedelta(days=d), _EPOCH_TIME + dt.timedelta(microseconds=us),
                           None if sid < 0 else sid, no, name, self.sources[src])

    @classmethod
    def from_values(cls, day, punched_at_us, ids, staff_id, staff_no, name, source) -> PunchColumns:
        """Columns from parallel sequences (None for a missing staff id), in the order given."""
        people: dict[tuple[str, str], int] = {}
        sources: dict[str, int] = {}
        person = [people.setdefault(p, len(people)) for p in zip(staff_no, name)]
        src = [sources.setdefault(x, len(sources)) for x in source]
        return cls(np.array(day, np.int32), np.array(punched_at_us, np.int64), np.array(ids, np.int64),
                   np.array([-1 if x is None else x for x in staff_id], np.int32),
                   np.array(person, np.int32), np.array(src, np.uint8), tuple(people), tuple(sources))


_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Store -> (file id, reader)
_readers_lock = threading.Lock()


def _native_reader(store: Store):
    """The core's reader of this store's SQLite file; None for other databases.

    One reader per store, closed with it; reopened when the file was replaced (a new inode).
    """
    if store.dialect != "sqlite":
        return None
    database = store.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    st = os.stat(database)
    file_id = (st.st_dev, st.st_ino)
    with _readers_lock:
        known = _readers.get(store)
        if known is None or known[0] != file_id:
            from app.native import PunchReader

            known = _readers[store] = (file_id, PunchReader(str(Path(database).resolve())))
        return known[1]


def punch_columns(store: Store, first: dt.date, last: dt.date, *,
                  staff_id: int | None = None) -> PunchColumns:
    """Every punch from ``first`` to ``last`` (terminal-local dates, both included), as columns."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    reader = _native_reader(store)
    if reader is None:
        return _columns_through_the_driver(store, first, last, staff_id)
    c = reader.read((first - EPOCH).days, (last - EPOCH).days, -1 if staff_id is None else staff_id)
    return PunchColumns(c["day"], c["punched_at_us"], c["id"], c["staff_id"], c["person"], c["source"],
                        tuple(c["people"]), tuple(c["sources"]))


def _columns_through_the_driver(store: Store, first: dt.date, last: dt.date,
                                staff_id: int | None) -> PunchColumns:
    """PostgreSQL (or SQLite without a file): the database turns dates and times into integers."""
    if store.dialect == "postgresql":
        # Through the DB-API cursor: plain tuples (SQLAlchemy's Row objects cost 4x more to split)
        sql = ("SELECT local_date - DATE '1970-01-01', CAST(EXTRACT(EPOCH FROM punched_at) * 1000000 AS BIGINT), "
               "id, staff_id, staff_no, name, source FROM punches WHERE local_date >= %s AND local_date <= %s"
               + (" AND staff_id = %s" if staff_id is not None else "") + " ORDER BY local_date, punched_at, id")
        raw_connection = store.engine.raw_connection()
        try:
            cursor = raw_connection.cursor()
            cursor.execute(sql, (first, last) if staff_id is None else (first, last, staff_id))
            rows = cursor.fetchall()
            cursor.close()
        finally:
            raw_connection.close()
    else:
        sqlite = store.dialect == "sqlite"
        query = _filtered(select(*_columns(sqlite), Punch.id), first, last, staff_id).order_by(*_ORDER)
        with store.engine.connect() as conn:
            raw = conn.execute(query).all()
        us = dt.timedelta(microseconds=1)
        rows = [((r.local_date - EPOCH).days, (r.punched_at - _EPOCH_TIME) // us, raw_row[6], r.staff_id,
                 r.staff_no, r.name, r.source)
                for r, raw_row in zip(_convert((x[:6] for x in raw), sqlite), raw)]
    if not rows:
        return PunchColumns.from_values((), (), (), (), (), (), ())
    return PunchColumns.from_values(*zip(*rows))

"""Punches: the one module that counts, lists, pages, streams and reads them as columns.

Which punches is a :class:`PunchFilter`:

- **days** (:meth:`PunchFilter.days`): a day is the punch's *stored local date*, the date at the
  terminal, in the zone in force when the punch was made. A punch made at 23:30 belongs to that
  day even after the terminal's zone changed: the admin's pages, the daily summary, the exports
  and the reports all list by it;
- **times** (:meth:`PunchFilter.times`): instants, for the HR API's ``start_time`` / ``end_time``
  (the seed's meaning: a time range);
- and the admin's narrowing: staff number or part of a name, department, source, device id,
  staff id.

A month for 1,000 staff is ~44,000 rows. Building them through SQLAlchemy's per-row result
processing costs about three times what the driver itself needs (measured by ``daka bench
store``), so these queries ask for raw column values and convert them once, in one pass:

- the time comes back from SQLite as text and is parsed with ``datetime.fromisoformat``;
  PostgreSQL's driver returns it as a ``datetime`` already;
- by day, the rows are read in the order of the covering index ``ix_punches_local_date_time``
  (local date, UTC time, id), so the database neither sorts nor visits the table for
  :class:`PunchRow`; :class:`ListedPunch` (the admin's list and exports) adds the id and the
  device id.

:func:`iter_rows` / :func:`iter_listed` stream the same rows in batches by keyset, for exports
of any size. :func:`punch_columns` answers a day range as numpy columns: on SQLite the C++ core
reads the covering index itself (``app.native.PunchReader``) and no Python object is made per
row. The HR API's answer (:func:`punches_json`) is built by the database as one JSON text.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (DateTime, Interval, LargeBinary, Select, String, Text, bindparam, cast, false, func,
                        literal, or_, select, tuple_, type_coerce)

from app.store import Staff, Store
from app.store.models import Punch

from .localtime import BadRange, LocalTimes, check_date, database_offset


class PunchRow(NamedTuple):
    """A punch as reports read it: the covering index's columns."""

    local_date: dt.date
    punched_at: dt.datetime  # naive UTC
    staff_id: int | None
    staff_no: str
    name: str
    source: str


class ListedPunch(NamedTuple):
    """A punch as the admin lists and exports it."""

    id: int
    local_date: dt.date
    punched_at: dt.datetime  # naive UTC
    staff_no: str
    name: str
    source: str
    device_id: str


_DAY_ORDER = (Punch.local_date, Punch.punched_at, Punch.id)  # the covering index's order
_TIME_ORDER = (Punch.punched_at, Punch.id)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class PunchFilter:
    """Which punches: stored local dates or UTC instants, narrowed by the admin's filters."""

    first: dt.date | None = None           # stored local dates, both included
    last: dt.date | None = None
    start_utc: dt.datetime | None = None   # or instants [start, end), naive UTC
    end_utc: dt.datetime | None = None
    staff: str = ""                        # a staff number, or part of a name
    department: str = ""
    source: str = ""
    device_id: str = ""
    staff_id: int | None = None

    @classmethod
    def days(cls, first: dt.date, last: dt.date, **narrowing) -> PunchFilter:
        """The punches whose stored local date is from ``first`` to ``last``."""
        check_date(first)
        check_date(last)
        if last < first:
            raise BadRange(f"the range ends ({last}) before it starts ({first})")
        return cls(first=first, last=last, **narrowing)

    @classmethod
    def times(cls, start_utc: dt.datetime, end_utc: dt.datetime, **narrowing) -> PunchFilter:
        """The punches made at or after ``start_utc`` and before ``end_utc`` (naive UTC)."""
        if end_utc <= start_utc:
            raise BadRange("the end of the range must be after its start")
        return cls(start_utc=start_utc, end_utc=end_utc, **narrowing)

    @property
    def by_day(self) -> bool:
        return self.first is not None

    @property
    def order(self) -> tuple:
        """Rows in (local date, time, id) order by day, (time, id) by instants: a total order."""
        return _DAY_ORDER if self.by_day else _TIME_ORDER

    def where(self, after: tuple | None = None) -> list:
        """The conditions; ``after`` (a value of :attr:`order`) starts after that row (keyset)."""
        if self.by_day:
            low, high = Punch.local_date >= self.first, Punch.local_date <= self.last
        elif self.start_utc is not None and self.end_utc is not None:
            low, high = Punch.punched_at >= self.start_utc, Punch.punched_at < self.end_utc
        else:
            raise BadRange("a punch filter needs days or times")
        if any("\x00" in t for t in (self.staff, self.department, self.source, self.device_id)):
            # No stored text holds a NUL (PostgreSQL's cannot): nothing matches, and none is sent.
            return [false()]
        # the row value (local date, time, id) is itself the lower bound: an index range, no skipping
        w = [low if after is None else tuple_(*self.order) > tuple_(*after), high]
        if self.staff:
            like = f"%{escape_like(self.staff)}%"
            w.append(or_(Punch.staff_no == self.staff, Punch.name.like(like, escape="\\")))
        if self.department:
            w.append(Punch.staff_id.in_(select(Staff.id).where(Staff.department == self.department)))
        if self.source:
            w.append(Punch.source == self.source)
        if self.device_id:
            w.append(Punch.device_id == self.device_id)
        if self.staff_id is not None:
            w.append(Punch.staff_id == self.staff_id)
        return w



# -- devices (issue 20: many terminals write into one central store) ----------------------------

def devices_in_range(store: Store, first: dt.date, last: dt.date) -> list[str]:
    """The device ids of the punches stored from ``first`` to ``last`` (local dates), sorted.

    Bounded by the range the page already reads (at most a year), not the whole table."""
    query = (select(Punch.device_id).where(Punch.local_date >= first, Punch.local_date <= last)
             .distinct().order_by(Punch.device_id))
    with store.engine.connect() as conn:
        return [d for d in conn.execute(query).scalars() if d]


def staff_ids_at_device(device_id: str, first: dt.date, last: dt.date) -> Select:
    """A subquery: the staff ids with a punch at ``device_id`` from ``first`` to ``last``."""
    return select(Punch.staff_id).where(Punch.device_id == device_id, Punch.local_date >= first,
                                        Punch.local_date <= last, Punch.staff_id.is_not(None)).distinct()


def devices_by_person_day(store: Store, first: dt.date, last: dt.date,
                          staff_ids: list[int]) -> dict[tuple[int, dt.date], tuple[str, ...]]:
    """(staff id, stored local date) -> the devices that recorded that person's punches that day,
    sorted, for the people given (a page of a report)."""
    if not staff_ids:
        return {}
    query = (select(Punch.staff_id, Punch.local_date, Punch.device_id)
             .where(Punch.local_date >= first, Punch.local_date <= last, Punch.staff_id.in_(staff_ids))
             .distinct())
    found: dict[tuple[int, dt.date], set[str]] = {}
    with store.engine.connect() as conn:
        for sid, day, device in conn.execute(query):
            found.setdefault((sid, day), set()).add(device)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def devices_by_person(store: Store, first: dt.date, last: dt.date, staff_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """staff id -> the devices that recorded that person's punches from ``first`` to ``last``, sorted."""
    out: dict[int, set[str]] = {}
    for (sid, _day), devices in devices_by_person_day(store, first, last, staff_ids).items():
        out.setdefault(sid, set()).update(devices)
    return {k: tuple(sorted(v)) for k, v in out.items()}

# -- the two row shapes: raw columns in, typed tuples out, converted in one pass ----------------

def _row_columns(sqlite: bool) -> tuple:
    if sqlite:  # no per-row processors: plain text and ints straight from the driver
        return (type_coerce(Punch.local_date, String), type_coerce(Punch.punched_at, String),
                Punch.staff_id, Punch.staff_no, Punch.name, Punch.source)
    return (Punch.local_date, Punch.punched_at, Punch.staff_id, Punch.staff_no, Punch.name, Punch.source)


def _to_rows(rows, sqlite: bool) -> list[PunchRow]:
    if not sqlite:
        return [PunchRow(*r) for r in rows]
    day, moment, make = dt.date.fromisoformat, dt.datetime.fromisoformat, PunchRow
    return [make(day(d), moment(t), sid, no, name, src) for d, t, sid, no, name, src in rows]


def _listed_columns(sqlite: bool) -> tuple:
    if sqlite:
        return (Punch.id, type_coerce(Punch.local_date, String), type_coerce(Punch.punched_at, String),
                Punch.staff_no, Punch.name, Punch.source, Punch.device_id)
    return (Punch.id, Punch.local_date, Punch.punched_at, Punch.staff_no, Punch.name, Punch.source,
            Punch.device_id)


def _to_listed(rows, sqlite: bool) -> list[ListedPunch]:
    if not sqlite:
        return [ListedPunch(*r) for r in rows]
    day, moment, make = dt.date.fromisoformat, dt.datetime.fromisoformat, ListedPunch
    return [make(i, day(d), moment(t), no, name, src, dev) for i, d, t, no, name, src, dev in rows]


def count(store: Store, f: PunchFilter) -> int:
    """How many punches ``f`` names."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Punch).where(*f.where())).scalar_one())


def _fetch(store: Store, f: PunchFilter, columns, convert, offset: int, limit: int | None) -> list:
    sqlite = store.dialect == "sqlite"
    query = select(*columns(sqlite)).where(*f.where()).order_by(*f.order)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return convert(conn.execute(query), sqlite)


def rows(store: Store, f: PunchFilter, *, offset: int = 0, limit: int | None = None) -> list[PunchRow]:
    """The punches ``f`` names, in its order (by day: local date, time, id)."""
    return _fetch(store, f, _row_columns, _to_rows, offset, limit)


def listed(store: Store, f: PunchFilter, *, offset: int = 0, limit: int | None = None) -> list[ListedPunch]:
    """The punches ``f`` names as the admin lists them (a page: ``offset``, ``limit``)."""
    return _fetch(store, f, _listed_columns, _to_listed, offset, limit)


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


def _keyset_query(f: PunchFilter, columns: tuple) -> Callable[[tuple | None], Select]:
    return lambda after: select(*columns).where(*f.where(after)).order_by(*f.order)


def iter_rows(store: Store, f: PunchFilter, *, batch: int = 5000) -> Iterator[PunchRow]:
    """The rows of :func:`rows`, fetched ``batch`` at a time (:func:`keyset_batches`)."""
    sqlite = store.dialect == "sqlite"

    def key_of(raw) -> tuple:  # the order's values, typed as the bound needs them
        row = _to_rows([raw[:6]], sqlite)[0]
        return (row.local_date, row.punched_at, raw[6]) if f.by_day else (row.punched_at, raw[6])

    for raw in keyset_batches(store, _keyset_query(f, (*_row_columns(sqlite), Punch.id)), key_of, batch):
        yield from _to_rows((r[:6] for r in raw), sqlite)


def iter_listed(store: Store, f: PunchFilter, *, batch: int = 5000) -> Iterator[ListedPunch]:
    """The rows of :func:`listed`, fetched ``batch`` at a time: exports of any range in flat memory."""
    sqlite = store.dialect == "sqlite"

    def key_of(raw) -> tuple:
        row = _to_listed([raw], sqlite)[0]
        return (row.local_date, row.punched_at, row.id) if f.by_day else (row.punched_at, row.id)

    for raw in keyset_batches(store, _keyset_query(f, _listed_columns(sqlite)), key_of, batch):
        yield from _to_listed(raw, sqlite)


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
        """The punches as :class:`PunchRow` (what :func:`rows` returns), one at a time."""
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


def punch_minutes(store: Store, first: dt.date, last: dt.date, *,
                  staff_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(staff id, UTC minute since 1970) of every punch of known staff stored from ``first`` to
    ``last`` (terminal-local dates), as two int64 arrays in no particular order: what the
    attendance rules read (app.attendance.rules). On PostgreSQL only those two integers cross the
    wire (half the time of :func:`punch_columns` for a month of 1,000 staff)."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    if store.dialect == "postgresql":
        sql = ("SELECT staff_id, CAST(FLOOR(EXTRACT(EPOCH FROM punched_at) / 60) AS BIGINT) FROM punches "
               "WHERE local_date >= %s AND local_date <= %s AND staff_id IS NOT NULL"
               + (" AND staff_id = %s" if staff_id is not None else ""))
        raw_connection = store.engine.raw_connection()
        try:
            cursor = raw_connection.cursor()
            cursor.execute(sql, (first, last) if staff_id is None else (first, last, staff_id))
            rows = cursor.fetchall()
            cursor.close()
        finally:
            raw_connection.close()
        both = np.array(rows, np.int64).reshape(-1, 2)
        return both[:, 0].copy(), both[:, 1].copy()
    cols = punch_columns(store, first, last, staff_id=staff_id)
    known = cols.staff_id >= 0
    return cols.staff_id[known].astype(np.int64), cols.punched_at_us[known] // 60_000_000


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
        f = PunchFilter(first=first, last=last, staff_id=staff_id)
        query = select(*_row_columns(sqlite), Punch.id).where(*f.where()).order_by(*f.order)
        with store.engine.connect() as conn:
            raw = conn.execute(query).all()
        us = dt.timedelta(microseconds=1)
        rows = [((r.local_date - EPOCH).days, (r.punched_at - _EPOCH_TIME) // us, raw_row[6], r.staff_id,
                 r.staff_no, r.name, r.source)
                for r, raw_row in zip(_to_rows((x[:6] for x in raw), sqlite), raw)]
    if not rows:
        return PunchColumns.from_values((), (), (), (), (), (), ())
    return PunchColumns.from_values(*zip(*rows))


# -- the HR API's answer: /api/get_attend_infos over a time range ------------------------------

def local_text_column(dialect: str, offset: dt.timedelta):
    """punched_at as terminal-local 'YYYY-MM-DD HH:MM:SS' text, computed by the database."""
    minutes = int(offset.total_seconds() // 60)
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%S", Punch.punched_at, f"{minutes:+d} minutes")
    if dialect == "postgresql":
        return func.to_char(Punch.punched_at + offset, "YYYY-MM-DD HH24:MI:SS")
    return None


def punch_rows(conn, f: PunchFilter, tz) -> list[tuple[str, str, str, str]]:
    """(name, staff no, local time text, device id) of the punches of a time range, in time order."""
    offset = database_offset(tz, f.start_utc, f.end_utc)
    column = local_text_column(conn.dialect.name, offset) if offset is not None else None
    if column is not None:  # the usual case: the database formats, Python only passes rows on
        return conn.execute(select(Punch.name, Punch.staff_no, column, Punch.device_id)
                            .where(*f.where()).order_by(*f.order)).all()
    local = LocalTimes(tz)
    found = conn.execute(select(Punch.name, Punch.staff_no, Punch.punched_at, Punch.device_id)
                         .where(*f.where()).order_by(*f.order))
    return [(n, no, local(t), device) for n, no, t, device in found]


def punches_json_stream(store: Store, f: PunchFilter, tz, *, batch: int = 2000) -> Iterator[bytes]:
    """The answer of :func:`punches_json` for any range, as UTF-8 pieces made batch by batch.

    For ranges the database cannot format itself (longer than 30 days, or across a zone change):
    memory stays that of one batch whatever the range holds, where a list of every row of a
    100-year range took hundreds of MB. The bytes are those of Flask's jsonify.
    """
    local = LocalTimes(tz)
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    yield b"["
    sep = ""
    for p in iter_listed(store, f, batch=batch):
        yield (sep + dumps({"name": p.name, "staff_id": p.staff_no, "attend_time": local(p.punched_at),
                            "device_id": p.device_id})).encode()
        sep = ","
    yield b"]\n"


# The seed's answer of /api/get_attend_infos, built by the database as one JSON text: no Python
# object per row. The keys, their order and the compact separators are those of Flask's jsonify
# with the admin's settings (ensure_ascii off), so the bytes are the same as the Python path's.
# One statement per dialect and device narrowing, built once: a request only binds the range, the
# zone's offset and the device.
_START = bindparam("start_utc", type_=DateTime)
_END = bindparam("end_utc", type_=DateTime)
_DEVICE = bindparam("device_id", type_=String)


def _in_range(device: bool) -> tuple:
    return (Punch.punched_at >= _START, Punch.punched_at < _END) + ((Punch.device_id == _DEVICE,) if device else ())


def _sqlite_json(device: bool):
    # datetime() gives "YYYY-MM-DD HH:MM:SS" as strftime with that format does, in less time.
    local = func.datetime(Punch.punched_at, bindparam("shift", type_=String))
    rows = (select(Punch.name, Punch.staff_no, local.label("attend_time"), Punch.device_id).where(*_in_range(device))
            .order_by(Punch.punched_at, Punch.id).subquery())
    # An aggregate over an ordered subquery: SQLite does not flatten it and aggregates in that order.
    array = func.json_group_array(func.json_object(
        "name", rows.c.name, "staff_id", rows.c.staff_no, "attend_time", rows.c.attend_time,
        "device_id", rows.c.device_id))
    return select(cast(array, LargeBinary))  # the UTF-8 bytes as they are: no decoding, no encoding again


def _postgresql_json(device: bool):
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    def quoted(col):  # to_json escapes text exactly as Python's json does with ensure_ascii off
        return func.coalesce(cast(func.to_json(col), Text), literal("null"))

    local = func.to_char(Punch.punched_at + bindparam("shift", type_=Interval), "YYYY-MM-DD HH24:MI:SS")
    item = (literal('{"name":') + quoted(Punch.name) + literal(',"staff_id":') + quoted(Punch.staff_no)
            + literal(',"attend_time":"') + local + literal('","device_id":') + quoted(Punch.device_id)
            + literal('}'))
    joined = func.string_agg(item, aggregate_order_by(literal(","), Punch.punched_at, Punch.id))
    array = literal("[") + func.coalesce(joined, literal("")) + literal("]")
    return select(func.convert_to(array, literal("UTF8"), type_=LargeBinary)).where(*_in_range(device))


_JSON_BUILDERS = {"sqlite": _sqlite_json, "postgresql": _postgresql_json}
_json_statements: dict[tuple[str, bool], object] = {}


def punches_json(conn, start_utc: dt.datetime, end_utc: dt.datetime, tz, device_id: str = "") -> bytes | None:
    """``[{"name", "staff_id", "attend_time", "device_id"}, ...]`` of the punches in [start, end)
    (of one device when ``device_id`` is given) as UTF-8 JSON made by the database, in time order.

    None when the database cannot format the local times itself (see :func:`database_offset`;
    another database): the caller then streams :func:`punches_json_stream`.
    """
    offset = database_offset(tz, start_utc, end_utc)
    dialect = conn.dialect.name
    if offset is None or dialect not in _JSON_BUILDERS:
        return None
    key = (dialect, bool(device_id))
    statement = _json_statements.get(key)
    if statement is None:
        statement = _json_statements[key] = _JSON_BUILDERS[dialect](bool(device_id))
    shift = f"{int(offset.total_seconds() // 60):+d} minutes" if dialect == "sqlite" else offset
    values = {"start_utc": start_utc, "end_utc": end_utc, "shift": shift}
    if device_id:
        values["device_id"] = device_id
    return bytes(conn.execute(statement, values).scalar_one())

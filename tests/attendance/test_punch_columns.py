"""A range of punches as columns: the same punches as the row list, on both backends, and the
C++ reader's own edges (calendar, stored formats, a replaced file, a missing file)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import numpy as np
import pytest
from sqlalchemy import select, text

from app.attendance import queries
from app.attendance.queries import PunchFilter, punch_columns
from app.native import PunchReader, PunchReadError
from app.store import Punch, Staff


@pytest.fixture
def sqlite_store(instance, make_config):
    """The instance's SQLite file: what the C++ reader reads (PostgreSQL takes the Python path)."""
    from app.store import open_store

    s = open_store(make_config(), instance)
    yield s
    s.dispose()


def _add(store, rows):
    """rows: (staff, local date, naive UTC time, source); returns the punch ids in insertion order."""
    with store.session() as s:
        punches = [Punch(uuid=uuid.uuid4(), staff_id=st.id if st else None,
                         staff_no=st.staff_no if st else "X-gone", name=st.name if st else "已删除",
                         punched_at=at, local_date=day, device_id="t", source=src)
                   for st, day, at, src in rows]
        s.add_all(punches)
        s.flush()
        return [p.id for p in punches]


def _people(store, names):
    with store.session() as s:
        staff = [Staff(staff_no=no, name=name) for no, name in names]
        s.add_all(staff)
    return staff


def _ids(store, first, last, staff_id=None):
    with store.session() as s:
        q = select(Punch.id).where(Punch.local_date >= first, Punch.local_date <= last)
        if staff_id is not None:
            q = q.where(Punch.staff_id == staff_id)
        return list(s.scalars(q.order_by(Punch.local_date, Punch.punched_at, Punch.id)))


ODD_NAMES = [("A001", "张三"), ("A002", "O'Brien \"Bob\""), ("A003", "back\\slash; DROP TABLE punches"),
             ("A004", "x" * 64), ("A005", "Zoë 🙂")]


def test_columns_hold_the_same_punches_as_the_row_list(store):
    staff = _people(store, ODD_NAMES)
    base = dt.datetime(2026, 3, 1, 0, 30)
    rows = []
    for d in range(6):
        day = dt.date(2026, 3, 1) + dt.timedelta(days=d)
        for i, st in enumerate(staff):
            rows.append((st, day, base + dt.timedelta(days=d, minutes=7 * i, microseconds=123 * i),
                         ["face", "makeup", "manual"][i % 3]))
    rows.append((staff[0], dt.date(2026, 3, 3), base + dt.timedelta(days=2), "face"))  # same instant twice
    _add(store, rows)
    first, last = dt.date(2026, 3, 2), dt.date(2026, 3, 5)

    cols = punch_columns(store, first, last)
    assert list(cols.rows()) == queries.rows(store, PunchFilter.days(first, last))
    assert cols.id.tolist() == _ids(store, first, last)
    assert len(cols) == 4 * len(staff) + 1
    assert sorted(cols.people) == sorted(ODD_NAMES)  # each snapshot once, texts intact
    assert set(cols.sources) == {"face", "makeup", "manual"}
    assert cols.day.dtype == np.int32 and cols.punched_at_us.dtype == np.int64
    assert cols.day.min() == (first - queries.EPOCH).days and cols.day.max() == (last - queries.EPOCH).days

    one = punch_columns(store, first, last, staff_id=staff[1].id)
    assert list(one.rows()) == queries.rows(store, PunchFilter.days(first, last, staff_id=staff[1].id))
    assert set(one.staff_id.tolist()) == {staff[1].id}

    empty = punch_columns(store, dt.date(2020, 1, 1), dt.date(2020, 1, 31))
    assert len(empty) == 0 and list(empty.rows()) == [] and empty.people == ()
    with pytest.raises(ValueError, match="before it starts"):
        punch_columns(store, last, first)


def test_a_punch_whose_staff_was_deleted_keeps_its_snapshot(store):
    (st,) = _people(store, [("D001", "李四")])
    day = dt.date(2026, 4, 1)
    _add(store, [(st, day, dt.datetime(2026, 4, 1, 1), "face"), (None, day, dt.datetime(2026, 4, 1, 2), "manual")])
    cols = punch_columns(store, day, day)
    assert cols.staff_id.tolist() == [st.id, -1]
    assert [r.staff_id for r in cols.rows()] == [st.id, None]
    assert list(cols.rows()) == queries.rows(store, PunchFilter.days(day, day))


def test_the_core_reads_sqlite_files_and_agrees_with_the_python_path(sqlite_store):
    (st,) = _people(sqlite_store, [("C001", "王五")])
    # Calendar edges: leap days, century years, the first and the last representable years.
    days = [dt.date(1, 1, 1), dt.date(1900, 3, 1), dt.date(2000, 2, 29), dt.date(2024, 2, 29),
            dt.date(2024, 12, 31), dt.date(2100, 2, 28), dt.date(2100, 3, 1), dt.date(9999, 12, 31)]
    _add(sqlite_store, [(st, d, dt.datetime.combine(d, dt.time(23, 59, 59, 999999)), "face") for d in days])
    assert queries._native_reader(sqlite_store) is not None
    native = punch_columns(sqlite_store, dt.date(1, 1, 1), dt.date(9999, 12, 31))
    python = queries._columns_through_the_driver(sqlite_store, dt.date(1, 1, 1), dt.date(9999, 12, 31), None)
    assert [r.local_date for r in native.rows()] == days
    for name in ("day", "punched_at_us", "id", "staff_id", "person", "source"):
        assert getattr(native, name).tolist() == getattr(python, name).tolist(), name
    assert native.people == python.people and native.sources == python.sources


def test_times_written_without_a_fraction_or_with_a_t_are_read(sqlite_store):
    (st,) = _people(sqlite_store, [("T001", "赵六")])
    with sqlite_store.engine.begin() as conn:
        for at in ("2026-05-01 08:00:00", "2026-05-01T08:00:01.5", "2026-05-01 08:00:02.000007"):
            conn.execute(text("INSERT INTO punches (uuid, staff_id, staff_no, name, punched_at, local_date, "
                              "device_id, source, created_at) VALUES (:u, :s, 'T001', '赵六', :at, "
                              "'2026-05-01', 't', 'face', :at)"), {"u": uuid.uuid4().hex, "s": st.id, "at": at})
    cols = punch_columns(sqlite_store, dt.date(2026, 5, 1), dt.date(2026, 5, 1))
    start = int(dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC).timestamp()) * 10**6
    # (text order puts the 'T' last: the store itself always writes a space)
    assert sorted((cols.punched_at_us - start).tolist()) == [0, 1_500_000, 2_000_007]


@pytest.mark.parametrize("bad", ["2026-05-01 25:00:00", "2026-02-30 08:00:00", "yesterday", "",
                                 "2026-05-01 08:00:00.1234567", "2026-05-01 08:00:00Z"])
def test_a_time_in_another_format_is_a_clear_error(sqlite_store, bad):
    with sqlite_store.engine.begin() as conn:
        conn.execute(text("INSERT INTO punches (uuid, staff_no, name, punched_at, local_date, device_id, "
                          "source, created_at) VALUES (:u, 'B1', 'b', :at, '2026-05-01', 't', 'face', "
                          "'2026-05-01')"), {"u": uuid.uuid4().hex, "at": bad})
    with pytest.raises(PunchReadError, match="punched_at '.*' is not a time"):
        punch_columns(sqlite_store, dt.date(2026, 5, 1), dt.date(2026, 5, 1))


def test_a_replaced_database_file_is_read_afresh(sqlite_store, tmp_path):
    (st,) = _people(sqlite_store, [("R001", "钱七")])
    day = dt.date(2026, 6, 1)
    _add(sqlite_store, [(st, day, dt.datetime(2026, 6, 1, 1), "face")])
    path = sqlite_store.engine.url.database
    copy = tmp_path / "copy.sqlite3"
    src, dst = sqlite3.connect(path), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    assert len(punch_columns(sqlite_store, day, day)) == 1
    _add(sqlite_store, [(st, day, dt.datetime(2026, 6, 1, 2), "face")])
    assert len(punch_columns(sqlite_store, day, day)) == 2
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    sqlite_store.engine.dispose()
    copy.replace(path)  # a new file (new inode) where the database was: the one-punch state
    assert len(punch_columns(sqlite_store, day, day)) == 1


def test_the_reader_refuses_a_missing_file_and_a_reversed_range(tmp_path):
    with pytest.raises(PunchReadError, match="cannot open the database"):
        PunchReader(str(tmp_path / "nowhere" / "daka.sqlite3"))
    assert not (tmp_path / "nowhere").exists()
    db = tmp_path / "empty.sqlite3"
    sqlite3.connect(db).close()
    reader = PunchReader(str(db))
    with pytest.raises(PunchReadError, match="no such table: punches"):
        reader.read(0, 1)
    with pytest.raises(ValueError, match="before it starts"):
        reader.read(5, 4)


def test_person_days_agree_with_a_group_by_query(store):
    from sqlalchemy import func

    from app.attendance.summary import person_days

    staff = _people(store, [(f"S{i:02d}", f"员工{i}") for i in range(6)])
    rnd = __import__("random").Random(5)
    rows = []
    for d in range(9):
        day = dt.date(2026, 2, 25) + dt.timedelta(days=d)  # across a month's end
        for st in staff:
            for _ in range(rnd.randrange(0, 4)):
                rows.append((st, day, dt.datetime.combine(day, dt.time(rnd.randrange(24), rnd.randrange(60)))
                             - dt.timedelta(hours=8), "face"))
    rows.append((None, dt.date(2026, 2, 26), dt.datetime(2026, 2, 26, 1), "manual"))  # no staff: not counted
    _add(store, rows)
    first, last = dt.date(2026, 2, 26), dt.date(2026, 3, 4)
    with store.session() as s:
        expected = {(sid, day): (lo, hi, n) for sid, day, lo, hi, n in s.execute(
            select(Punch.staff_id, Punch.local_date, func.min(Punch.punched_at), func.max(Punch.punched_at),
                   func.count()).where(Punch.local_date >= first, Punch.local_date <= last,
                                       Punch.staff_id.is_not(None))
            .group_by(Punch.staff_id, Punch.local_date))}
    got = person_days(store, first, last)
    assert {k: tuple(v) for k, v in got.items()} == expected
    assert sum(v.count for v in got.values()) > 30 and any(v.count > 1 for v in got.values())
    one = person_days(store, first, last, staff_id=staff[2].id)
    assert one == {k: v for k, v in got.items() if k[0] == staff[2].id}
    assert person_days(store, dt.date(2020, 1, 1), dt.date(2020, 1, 2)) == {}


def test_calendar_edges_read_alike_on_both_backends(store):
    (st,) = _people(store, [("E001", "孙八")])
    days = [dt.date(1970, 1, 1), dt.date(1969, 12, 31), dt.date(2000, 2, 29), dt.date(2100, 3, 1)]
    _add(store, [(st, d, dt.datetime.combine(d, dt.time(0, 0, 0, 1)), "face") for d in days])
    cols = punch_columns(store, dt.date(1900, 1, 1), dt.date(2200, 1, 1))
    assert list(cols.rows()) == queries.rows(store, PunchFilter.days(dt.date(1900, 1, 1), dt.date(2200, 1, 1)))
    assert cols.day.tolist() == sorted((d - dt.date(1970, 1, 1)).days for d in days)
    assert cols.punched_at_us.tolist() == [d * 86_400_000_000 + 1 for d in cols.day.tolist()]

"""Date-range lists: the fast path returns exactly what the ORM returns, in index order, on both backends."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import select, text

from app.attendance.queries import PunchFilter, PunchRow, count, iter_rows, rows
from app.store import Punch, Staff


def _seed(store, days: int = 10, people: int = 7, seed: int = 3):
    rnd = random.Random(seed)
    start = dt.date(2026, 3, 1)
    with store.session() as s:
        staff = [Staff(staff_no=f"Q{i:03d}", name=f"张{i}号") for i in range(people)]
        s.add_all(staff)
        s.flush()
        for d in range(days):
            day = start + dt.timedelta(days=d)
            for p in staff:
                for _ in range(rnd.randrange(0, 4)):
                    at = dt.datetime.combine(day, dt.time(rnd.randrange(24), rnd.randrange(60),
                                                          rnd.randrange(60), rnd.randrange(10**6)))
                    s.add(Punch(uuid=uuid.uuid4(), staff_id=p.id, staff_no=p.staff_no, name=p.name,
                                punched_at=at - dt.timedelta(hours=8), local_date=day, device_id="t",
                                source=rnd.choice(["face", "makeup", "manual"])))
        # Two punches at the very same instant: the order must still be total and stable.
        same = dt.datetime(2026, 3, 4, 1, 2, 3)
        for p in staff[:2]:
            s.add(Punch(uuid=uuid.uuid4(), staff_id=p.id, staff_no=p.staff_no, name=p.name,
                        punched_at=same, local_date=dt.date(2026, 3, 4), device_id="t", source="face"))
        ids = [p.id for p in staff]
    return start, ids


def _expected(store, first, last, staff_id=None):
    with store.session() as s:
        q = select(Punch).where(Punch.local_date >= first, Punch.local_date <= last)
        if staff_id is not None:
            q = q.where(Punch.staff_id == staff_id)
        punches = s.scalars(q.order_by(Punch.local_date, Punch.punched_at, Punch.id)).all()
        return [PunchRow(p.local_date, p.punched_at, p.staff_id, p.staff_no, p.name, p.source)
                for p in punches]


def test_range_equals_the_orm_result_with_types(store):
    start, _ = _seed(store)
    first, last = start + dt.timedelta(days=2), start + dt.timedelta(days=6)
    found = rows(store, PunchFilter.days(first, last))
    assert found == _expected(store, first, last)
    assert len(found) > 20
    assert isinstance(found[0].local_date, dt.date) and isinstance(found[0].punched_at, dt.datetime)
    assert any(r.punched_at.microsecond for r in found)  # microseconds survive the text path
    assert all(first <= r.local_date <= last for r in found)
    assert count(store, PunchFilter.days(first, last)) == len(found)


def test_range_for_one_person_and_empty_ranges(store):
    start, ids = _seed(store)
    found = rows(store, PunchFilter.days(start, start + dt.timedelta(days=9), staff_id=ids[3]))
    assert found and {r.staff_id for r in found} == {ids[3]}
    assert found == _expected(store, start, start + dt.timedelta(days=9), ids[3])
    assert rows(store, PunchFilter.days(dt.date(2020, 1, 1), dt.date(2020, 1, 31))) == []
    with pytest.raises(ValueError, match="ends"):
        PunchFilter.days(start, start - dt.timedelta(days=1))


@pytest.mark.parametrize("batch", [1, 3, 50, 10_000])
def test_streaming_returns_every_row_once_in_order(store, batch):
    start, _ = _seed(store)
    last = start + dt.timedelta(days=9)
    streamed = list(iter_rows(store, PunchFilter.days(start, last), batch=batch))
    assert streamed == rows(store, PunchFilter.days(start, last))


def test_streaming_refuses_a_zero_batch(store):
    with pytest.raises(ValueError, match="batch"):
        next(iter_rows(store, PunchFilter.days(dt.date(2026, 1, 1), dt.date(2026, 1, 2)), batch=0))


def test_the_month_list_reads_the_covering_index_without_sorting(store):
    if store.dialect != "sqlite":
        pytest.skip("the query plan check is SQLite's EXPLAIN QUERY PLAN")
    _seed(store)
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT local_date, punched_at, staff_id, staff_no, name, source "
            "FROM punches WHERE local_date >= '2026-03-01' AND local_date <= '2026-03-31' "
            "ORDER BY local_date, punched_at, id")))
    assert "COVERING INDEX ix_punches_local_date_time" in plan
    assert "TEMP B-TREE" not in plan


def test_each_streamed_batch_starts_where_the_last_ended(store):
    """The keyset bound is an index range (local_date, punched_at) > ..., not a rescan of the month."""
    if store.dialect != "sqlite":
        pytest.skip("the query plan check is SQLite's EXPLAIN QUERY PLAN")
    from app.attendance import queries

    f = queries.PunchFilter.days(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    query = select(*queries._row_columns(True), Punch.id).where(
        *f.where(after=(dt.date(2026, 3, 5), dt.datetime(2026, 3, 5, 1), 7)))
    query = query.order_by(*f.order).limit(100)
    compiled = query.compile(store.engine)
    params = [compiled.params[k] for k in compiled.positiontup]
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(params)))
    assert "(local_date,punched_at)>(?,?)" in plan.replace(" ", "")
    assert "TEMP B-TREE" not in plan


def test_a_filter_text_holding_a_nul_matches_nothing_on_both_backends(store):
    """No stored staff number, name, department, source or device id holds a NUL (PostgreSQL text
    cannot): such a filter lists nothing instead of failing in the driver."""
    import zoneinfo

    from app.attendance.queries import ListedPunch, iter_listed, listed
    from app.attendance.summary import daily_summary

    start, _ = _seed(store)
    last = start + dt.timedelta(days=9)
    assert count(store, PunchFilter.days(start, last)) > 0
    for field in ("staff", "department", "source", "device_id"):
        f = PunchFilter.days(start, last, **{field: "t\x00"})
        assert count(store, f) == 0 and rows(store, f) == [] and listed(store, f) == []
        assert list(iter_listed(store, f)) == [] and list(iter_rows(store, f)) == []
    assert daily_summary(store, PunchFilter.days(start, start, staff="Q\x00"), zoneinfo.ZoneInfo("UTC")) == []
    assert len(daily_summary(store, PunchFilter.days(start, start), zoneinfo.ZoneInfo("UTC"))) == 7
    assert isinstance(listed(store, PunchFilter.days(start, last))[0], ListedPunch)

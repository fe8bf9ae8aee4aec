"""/api/get_attend_infos answers with JSON built by the database: the same bytes as the Python path.

On SQLite and PostgreSQL, with names that need escaping (quotes, backslashes, Chinese, control
characters), in zones with a fixed offset over the range (the database formats the local times)
and across a DST change (Python formats them).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zoneinfo

import pytest
from tests.helpers.admin_app import add_staff, api_token, build_app

ODD_NAMES = ['张三', 'O"Brien', 'back\\slash', "it's", 'tab\there', 'new\nline', 'cr\rlf', 'bell\x07',
             'nul\x00byte', 'esc\x1b[0m', 'del\x7f', 'line\u2028sep', '😀 emoji', '</script>', '', ' ', '\\u0041',
             'Zoë Ünal', 'ȷ̈ combining', '{"name":1}']


def _reference_body(rows) -> bytes:
    """What Flask's jsonify (compact, ensure_ascii off, keys in the seed's order) sends."""
    items = [{"name": n, "staff_id": no, "attend_time": t, "device_id": device} for n, no, t, device in rows]
    return (json.dumps(items, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _names(store) -> list[str]:
    # PostgreSQL text cannot hold NUL at all; SQLite can, and its JSON escapes it as Python does.
    return [n for n in ODD_NAMES if store.dialect == "sqlite" or "\x00" not in n]


@pytest.fixture
def odd_punches(store):
    """Punches of staff with odd names, every 37 minutes from 2025-03-28 22:00 UTC (a DST change
    in Europe), inserted out of time order and with equal times to test the order by id."""
    from app.store import Punch

    names = _names(store)
    ids = [add_staff(store, f"S{i:02d}\\\"", name) for i, name in enumerate(names)]
    times = [dt.datetime(2025, 3, 28, 22, 0) + dt.timedelta(minutes=37 * i, microseconds=123456) for i in range(160)]
    order = list(reversed(range(len(times))))
    with store.session() as s:
        for k in order:
            for twin in range(1 + (k % 5 == 0)):  # some times twice
                i = (k + twin) % len(names)
                s.add(Punch(uuid=uuid.uuid4(), staff_id=ids[i], staff_no=f"S{i:02d}\\\"", name=names[i],
                            punched_at=times[k], local_date=times[k].date(), device_id="t", source="face"))
    return times


@pytest.mark.parametrize("zone,first,last,db_formats", [
    ("Asia/Shanghai", "2025-03-29 00:00:00", "2025-03-31 23:59:59", True),
    ("Asia/Kathmandu", "2025-03-29 06:00:00", "2025-03-30 12:00:00", True),   # +05:45
    ("America/St_Johns", "2025-03-29 00:00:00", "2025-03-29 23:59:59", True),  # -02:30
    ("Europe/Berlin", "2025-03-29 00:00:00", "2025-03-29 23:59:59", True),     # before the change
    ("Europe/Berlin", "2025-03-29 00:00:00", "2025-03-31 23:59:59", False),    # across the change
    ("Asia/Shanghai", "2024-01-01 00:00:00", "2024-01-20 23:59:59", True),     # nothing in the range
    ("Asia/Shanghai", "2025-03-01 00:00:00", "2025-04-30 23:59:59", False),    # over 30 days: Python formats
])
def test_database_json_is_byte_for_byte_the_python_answer(store, instance, admin_config, odd_punches,
                                                           zone, first, last, db_formats):
    from app.attendance import localtime, queries

    tz = zoneinfo.ZoneInfo(zone)
    app = build_app(admin_config(device={"timezone": zone}), instance, store)
    f = queries.PunchFilter.times(localtime.parse_local(first, tz), localtime.parse_local(last, tz, end=True))
    with store.engine.connect() as conn:
        rows = queries.punch_rows(conn, f, tz)
        made_by_db = queries.punches_json(conn, f.start_utc, f.end_utc, tz)
    assert (made_by_db is not None) == db_formats
    # The rows themselves against zoneinfo, independent of either formatting path.
    start, end = (dt.datetime.strptime(x, "%Y-%m-%d %H:%M:%S") for x in (first, last))
    expected_times = [localtime.local_time_of(t, tz) for t in odd_punches for _ in range(1 + (odd_punches.index(t) % 5 == 0))
                      if start <= dt.datetime.strptime(localtime.local_time_of(t, tz), "%Y-%m-%d %H:%M:%S") <= end]
    assert [r[2] for r in rows] == expected_times
    reference = _reference_body(rows)
    if made_by_db is not None:
        assert made_by_db + b"\n" == reference
    answer = app.test_client().post("/api/get_attend_infos", headers={"Authorization": f"Bearer {api_token(store)}"},
                                    json={"start_time": first, "end_time": last})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.data == reference
    names = {r["name"] for r in answer.get_json()}
    assert names == (set(_names(store)) if expected_times else set())


def test_offsets_of_seconds_are_left_to_python(store, instance, admin_config):
    """Shanghai kept local mean time (+08:05:43) until 1901: both database paths, in minutes, step aside
    (the rows path formatted such times to the minute's offset before: 09:05:17 for 09:06:00)."""
    from app.attendance import localtime, queries
    from app.store import Punch

    tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    sid = add_staff(store, "LMT1", "旧时")
    utc = [dt.datetime(1900, 6, 1, 1, 0, 17), dt.datetime(1900, 6, 1, 14, 0, 0)]
    with store.session() as s:
        for t in utc:
            s.add(Punch(uuid=uuid.uuid4(), staff_id=sid, staff_no="LMT1", name="旧时", punched_at=t,
                        local_date=t.date(), device_id="t", source="face"))
    start, end = localtime.parse_local("1900-06-01", tz), localtime.parse_local("1900-06-01", tz, end=True)
    with store.engine.connect() as conn:
        assert queries.punches_json(conn, start, end, tz) is None
    app = build_app(admin_config(device={"timezone": "Asia/Shanghai"}), instance, store)
    rows = app.test_client().post("/api/get_attend_infos", headers={"Authorization": f"Bearer {api_token(store)}"},
                                  json={"start_time": "1900-06-01", "end_time": "1900-06-01"}).get_json()
    assert [r["attend_time"] for r in rows] == ["1900-06-01 09:06:00", "1900-06-01 22:05:43"]

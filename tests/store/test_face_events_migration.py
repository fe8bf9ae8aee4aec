"""Migration dba59707af80 (the face_events table of stranger and spoof records) on a database made
by the previous schema, with punches in it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, select, text

from tests.helpers.migrations import store_at

PREVIOUS = "1dbe409ef5da"


def test_upgrade_from_the_previous_schema_keeps_everything_and_adds_the_records(make_config, instance,
                                                                                 database_url):
    from app.store import FaceEvent, open_store

    old = store_at(make_config(), instance, PREVIOUS, url=database_url)
    with old.engine.begin() as conn:
        assert not inspect(conn).has_table("face_events")
        conn.execute(text("INSERT INTO staff (id, staff_no, name, department, active, created_at, updated_at, zk_uid) "
                          "VALUES (1, 'E001', '张三', '', :t, '2026-12-01 08:00:00', '2026-12-01 08:00:00', 1)"),
                     {"t": True})
        conn.execute(text("INSERT INTO punches (uuid, staff_id, staff_no, name, punched_at, local_date, device_id, "
                          "source, created_at) VALUES (:u, 1, 'E001', '张三', '2026-12-01 01:00:00', '2026-12-01', "
                          "'t', 'face', '2026-12-01 01:00:00')"),
                     {"u": "0f5a9f3c5b2f4f7e8a1b2c3d4e5f6a7b" if database_url is None
                      else "0f5a9f3c-5b2f-4f7e-8a1b-2c3d4e5f6a7b"})
    old.dispose()

    store = open_store(make_config(), instance, url=database_url)   # upgrades to the newest revision
    try:
        inspector = inspect(store.engine)
        assert {"id", "at", "local_date", "kind", "device_id", "track_id", "reason", "similarity",
                "candidate_staff_id", "snapshot_file"} == {c["name"] for c in inspector.get_columns("face_events")}
        assert "ix_face_events_local_date_at" in {i["name"] for i in inspector.get_indexes("face_events")}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT staff_no FROM punches")).scalars().all() == ["E001"]
        with store.session() as s:
            s.add(FaceEvent(at=dt.datetime(2026, 12, 2), local_date=dt.date(2026, 12, 2), kind="spoof",
                            device_id="t", track_id=3, reason="texture", candidate_staff_id=1))
        with store.session() as s:
            assert s.scalars(select(FaceEvent.kind)).all() == ["spoof"]
        try:
            with store.session() as s:
                s.add(FaceEvent(at=dt.datetime(2026, 12, 2), local_date=dt.date(2026, 12, 2), kind="punch",
                                device_id="t", track_id=4, reason=""))
        except Exception as exc:   # the named check constraint holds on both databases
            assert "ck_face_events_kind" in str(exc) or "CHECK constraint failed" in str(exc)
        else:
            raise AssertionError("a kind other than stranger/spoof was stored")
    finally:
        store.dispose()

"""Migration f1e7a20c3b64 (a fleet terminal's cursors and enrolment queue, issue 20) on a database made
by the previous schema, with staff and a punch in it: both kept, the new tables empty and usable."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from tests.helpers.migrations import store_at

PREVIOUS = "38970cece0bc"


def test_upgrade_from_the_previous_schema_adds_the_fleet_tables(make_config, instance, database_url):
    from app.store import FleetCursor, FleetEnrolment, open_store

    old = store_at(make_config(), instance, PREVIOUS, url=database_url)
    with old.engine.begin() as conn:
        assert not inspect(conn).has_table("fleet_cursors")
        conn.execute(text("INSERT INTO staff (id, staff_no, name, department, phone, active, created_at, updated_at, "
                          "zk_uid) VALUES (1, 'E001', '张三', '', '', :t, '2026-12-01 08:00:00', "
                          "'2026-12-01 08:00:00', 1)"), {"t": True})
        conn.execute(text("INSERT INTO punches (uuid, staff_id, staff_no, name, punched_at, local_date, device_id, "
                          "source, created_at, status) VALUES (:u, 1, 'E001', '张三', '2026-12-01 01:00:00', "
                          "'2026-12-01', 't', 'face', '2026-12-01 01:00:00', 0)"),
                     {"u": "0f5a9f3c5b2f4f7e8a1b2c3d4e5f6a7b" if database_url is None
                      else "0f5a9f3c-5b2f-4f7e-8a1b-2c3d4e5f6a7b"})
    old.dispose()

    store = open_store(make_config(), instance, url=database_url)   # upgrades to the newest revision
    try:
        inspector = inspect(store.engine)
        assert {c["name"] for c in inspector.get_columns("fleet_cursors")} == {"name", "position", "updated_at"}
        assert {c["name"] for c in inspector.get_columns("fleet_enrolment_queue")} == {
            "id", "staff_no", "name", "photo", "photo_sha256", "descriptors", "quality", "created_at"}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT staff_no FROM punches")).scalars().all() == ["E001"]
        with store.session() as s:
            s.add(FleetCursor(name="punches", position=1))
            s.add(FleetEnrolment(staff_no="E001", name="张三", photo=b"\xff\xd8", photo_sha256="0" * 64,
                                 descriptors="{}", quality=0.5))
        with store.session() as s:
            assert s.get(FleetCursor, "punches").position == 1
            assert s.scalars(select(FleetEnrolment.staff_no)).all() == ["E001"]
    finally:
        store.dispose()

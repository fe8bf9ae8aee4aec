"""Migration 1dbe409ef5da (attendance rules, issue 24) on a database made by the previous schema:
staff and punches stay, the new tables work, and it goes back down."""

from __future__ import annotations

from sqlalchemy import inspect, text

from tests.helpers.migrations import store_at

PREVIOUS = "c41f0a7d2b93"
THIS = "1dbe409ef5da"


def _store_at(make_config, instance, url, revision):
    store = store_at(make_config(), instance, revision, url=url)
    return store


def test_upgrade_keeps_staff_and_adds_the_rules(make_config, instance, database_url):
    import datetime as dt

    from flask_migrate import downgrade

    from app.attendance import rules
    from app.store import MIGRATIONS_DIR, open_store

    old = _store_at(make_config, instance, database_url, PREVIOUS)
    with old.engine.begin() as conn:
        conn.execute(text("INSERT INTO staff (staff_no, name, department, active, created_at, updated_at, zk_uid) "
                          "VALUES ('00123', '李四', '生产部', :a, '2026-11-30 08:00:00', '2026-11-30 08:00:00', 1)"),
                     {"a": True})
    old.dispose()

    store = open_store(make_config(), instance, url=database_url)
    try:
        inspector = inspect(store.engine)
        assert {"hire_date", "leave_date"} <= {c["name"] for c in inspector.get_columns("staff")}
        assert {"shifts", "schedules", "schedule_days", "schedule_assignments", "company_days", "leaves"} <= set(
            inspector.get_table_names())
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT staff_no, name, hire_date, leave_date FROM staff")).all() == [
                ("00123", "李四", None, None)]
            staff_id = conn.execute(text("SELECT id FROM staff")).scalar_one()
        rules.add_leave(store, staff_id, dt.date(2026, 12, 1), dt.date(2026, 12, 2), "sick", "", "test")
        rules.set_staff_dates(store, staff_id, dt.date(2026, 1, 5), None, "test")
        with store.app.app_context():
            downgrade(directory=str(MIGRATIONS_DIR), revision=PREVIOUS)
        inspector = inspect(store.engine)
        assert "leaves" not in inspector.get_table_names()
        assert "hire_date" not in {c["name"] for c in inspector.get_columns("staff")}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT staff_no FROM staff")).scalars().all() == ["00123"]
    finally:
        store.dispose()

"""Migration 38970cece0bc (departments, staff phone and card, the hr role, leave requests) on a
database made by the previous schema, with staff whose department is free text."""

from __future__ import annotations

from sqlalchemy import inspect, text

from tests.helpers.migrations import store_at

PREVIOUS = "dba59707af80"  # the face events (issue 25), the last before this one


def test_upgrade_turns_department_texts_into_rows(make_config, instance, database_url):
    from admin.auth.users import create_user
    from app.store import open_store

    old = store_at(make_config(), instance, PREVIOUS, url=database_url)
    with old.engine.begin() as conn:
        for uid, (no, dept) in enumerate((("E1", "生产部"), ("E2", "生产部"), ("E3", "品质部"), ("E4", "")), 1):
            conn.execute(text("INSERT INTO staff (staff_no, name, department, active, created_at, updated_at, zk_uid) "
                              "VALUES (:no, '某人', :d, :a, '2026-11-30 08:00:00', '2026-11-30 08:00:00', :u)"),
                         {"no": no, "d": dept, "a": True, "u": uid})
        conn.execute(text(
            "INSERT INTO makeup_requests (staff_no, name, punched_at, local_date, reason, state, requested_by, "
            "created_at) VALUES ('E1', '某人', '2026-11-30 00:30:00', '2026-11-30', '', 'pending', 'admin', "
            "'2026-11-30 08:00:00')"))
    old.dispose()

    store = open_store(make_config(), instance, url=database_url)  # upgrades to the newest revision
    try:
        with store.engine.connect() as conn:
            depts = dict(conn.execute(text("SELECT name, id FROM departments")).all())
            staff = dict(conn.execute(text("SELECT staff_no, department_id FROM staff")).all())
            texts = dict(conn.execute(text("SELECT staff_no, department FROM staff")).all())
            kinds = conn.execute(text("SELECT kind FROM makeup_requests")).scalars().all()
        assert set(depts) == {"生产部", "品质部"}
        assert staff == {"E1": depts["生产部"], "E2": depts["生产部"], "E3": depts["品质部"], "E4": None}
        assert texts["E3"] == "品质部"  # the text column stays readable
        assert kinds == ["punch"]
        assert {"phone", "card_no", "department_id"} <= {c["name"] for c in inspect(store.engine).get_columns("staff")}
        create_user(store, "hr1", "a good password", "hr", actor="test")  # the check allows the new role
    finally:
        store.dispose()


def test_downgrade_keeps_accounts_and_punch_requests(make_config, instance, database_url):
    from flask_migrate import downgrade, upgrade

    from admin.auth.users import create_user
    from app.store import MIGRATIONS_DIR, open_store

    store = open_store(make_config(), instance, url=database_url)
    try:
        create_user(store, "hr1", "a good password", "hr", actor="test")
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO departments (name, created_at) VALUES ('生产部', '2026-11-30 08:00:00')"))
            conn.execute(text("INSERT INTO staff (staff_no, name, department, department_id, phone, active, "
                              "created_at, updated_at, zk_uid) VALUES ('E1', '某人', '生产部', 1, '', :a, "
                              "'2026-11-30 08:00:00', '2026-11-30 08:00:00', 1)"), {"a": True})
            for kind in ("punch", "leave"):
                conn.execute(text(
                    "INSERT INTO makeup_requests (staff_no, name, punched_at, local_date, reason, state, "
                    "requested_by, created_at, kind) VALUES ('E1', '某人', '2026-11-30 00:30:00', '2026-11-30', '', "
                    "'pending', 'self:E1', '2026-11-30 08:00:00', :k)"), {"k": kind})
        with store.app.app_context():
            downgrade(directory=str(MIGRATIONS_DIR), revision=PREVIOUS)
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT role FROM admin_users WHERE username = 'hr1'")).scalar() == "viewer"
            assert conn.execute(text("SELECT count(*) FROM makeup_requests")).scalar() == 1
            assert conn.execute(text("SELECT department FROM staff")).scalar() == "生产部"
        assert "departments" not in inspect(store.engine).get_table_names()
        with store.app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT department_id FROM staff")).scalar() is not None
    finally:
        store.dispose()

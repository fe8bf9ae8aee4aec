"""A backup made before a schema change still restores: it is upgraded first, never half-applied."""

from __future__ import annotations

import sqlite3

from sqlalchemy import func, select, text

from tests.helpers.admin_app import add_staff, csrf_token, send_files
from tests.helpers.migrations import store_at

PREVIOUS = "9e6f17832e23"   # the schema before the setup claim and the login throttle


def backup_at_previous_revision(make_config, tmp_path):
    from app.instance import Instance

    other = Instance(tmp_path / "older").prepare()
    path = tmp_path / "older.sqlite3"
    store = store_at(make_config(), other, PREVIOUS, url=f"sqlite:///{path}")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO staff (staff_no, name, department, active, created_at, updated_at)"
                          " VALUES ('OLD1', '旧备份', '', 1, '2026-11-01 08:00:00', '2026-11-01 08:00:00')"))
    store.dispose()
    return path


def restore(client, data: bytes):
    token = csrf_token(client, "/system/")
    return send_files(client, "POST", "/system/restore", [(data, "old.sqlite3")], field="file",
                      form={"csrf_token": token})


def test_a_backup_from_the_previous_schema_is_upgraded_and_restored(admin_client, sqlite_store, make_config,
                                                                    tmp_path):
    from app.store import Staff
    from admin.system.backup import _head

    old = backup_at_previous_revision(make_config, tmp_path)
    add_staff(sqlite_store, "NOW1", "现在的")
    r = restore(admin_client, old.read_bytes())
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    with sqlite_store.session() as s:
        assert list(s.scalars(select(Staff.staff_no))) == ["OLD1"]
    con = sqlite3.connect(sqlite_store.engine.url.database)
    try:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _head()
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
    assert {"setup_claim", "login_throttle"} <= tables


def test_a_backup_from_an_unknown_newer_schema_is_refused_and_nothing_changes(admin_client, sqlite_store,
                                                                               make_config, tmp_path):
    from app.store import Staff

    old = backup_at_previous_revision(make_config, tmp_path)
    con = sqlite3.connect(old)
    with con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    con.close()   # the last connection to a WAL database writes its changes back into the file
    add_staff(sqlite_store, "NOW1", "现在的")
    r = restore(admin_client, old.read_bytes())
    assert r.status_code == 303
    page = admin_client.get("/system/").get_data(as_text=True)
    assert "ffffffffffff" in page and "当前数据未改动" in page
    with sqlite_store.session() as s:
        assert list(s.scalars(select(Staff.staff_no))) == ["NOW1"]
        assert s.scalar(select(func.count()).select_from(Staff)) == 1

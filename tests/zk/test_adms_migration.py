"""Migration a7d5c3e1f018 (adms_cursors) on a database made by the previous schema, with punches in
it: they stay (state 0, in), and the new link starts from the beginning (cursor 0) and advances."""

from __future__ import annotations

from sqlalchemy import inspect, text

from tests.helpers.migrations import store_at

PREVIOUS = "5377f267f672"


def test_upgrade_from_the_previous_schema_keeps_punches_and_adds_the_cursors(make_config, instance, database_url):
    from app.store import open_store
    from app.zk.adms.data import AdmsData

    old = store_at(make_config(), instance, PREVIOUS, url=database_url)
    assert "adms_cursors" not in inspect(old.engine).get_table_names()
    with old.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO punches (uuid, staff_no, name, punched_at, local_date, device_id, source, created_at) "
            "VALUES ('0f0e0d0c0b0a09080706050403020100', 'E1', '张三', '2026-12-01 00:30:00', '2026-12-01', "
            "'d', 'face', '2026-12-01 00:30:01')"))
    old.dispose()

    store = open_store(make_config(), instance, url=database_url)   # upgrades to the newest revision
    try:
        assert {c["name"] for c in inspect(store.engine).get_columns("adms_cursors")} == {
            "table", "position", "updated_at"}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT staff_no, status FROM punches")).all() == [("E1", 0)]
        data = AdmsData(store, lambda: "Asia/Shanghai")
        assert data.cursor("ATTLOG") == 0
        batch = data.punches_after(0, 10)
        assert batch.lines == ["E1\t2026-12-01 08:30:00\t0\t15\t0\t0\t0"]
        data.set_cursor("ATTLOG", batch.last_id)
        assert data.cursor("ATTLOG") == batch.last_id and data.punches_after(batch.last_id, 10).rows == 0
    finally:
        store.dispose()

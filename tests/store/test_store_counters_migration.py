"""Migration 5c3e8a1f9b20 (the highest ZKTeco uid ever given, ``store_counters``) on a database
made by the previous schema whose highest uid had been deleted before: the counter starts at the
highest uid still in use (what the old rule knew), and no uid in use is ever given again."""

from __future__ import annotations

from sqlalchemy import inspect, select, text

from tests.helpers.migrations import store_at

PREVIOUS = "f1e7a20c3b64"


def test_upgrade_starts_the_counter_at_the_highest_uid_in_use(make_config, instance, database_url):
    from app.store import Staff, StoreCounter, open_store

    old = store_at(make_config(), instance, PREVIOUS, url=database_url)
    with old.engine.begin() as conn:
        assert not inspect(conn).has_table("store_counters")
        for no, uid in (("E1", 1), ("E2", 7)):
            conn.execute(text("INSERT INTO staff (staff_no, name, department, phone, active, created_at, "
                              "updated_at, zk_uid) VALUES (:n, :n, '', '', :a, '2026-12-01 08:00:00', "
                              "'2026-12-01 08:00:00', :u)"), {"n": no, "a": True, "u": uid})
    old.dispose()

    store = open_store(make_config(), instance, url=database_url)   # upgrades to the newest revision
    try:
        with store.session() as s:
            assert s.get(StoreCounter, "zk_uid").value == 7
            s.delete(s.scalar(select(Staff).where(Staff.staff_no == "E2")))
        with store.session() as s:
            s.add(Staff(staff_no="E3", name="新人"))
        with store.session() as s:
            assert s.get(StoreCounter, "zk_uid").value == 8
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT staff_no, zk_uid FROM staff ORDER BY zk_uid")).all() == [
                ("E1", 1), ("E3", 8)]
    finally:
        store.dispose()

"""Migration 5377f267f672 (setup claim, login throttle, lockout columns dropped) on a database made
by the previous schema, with accounts in it and without."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from tests.helpers.migrations import store_at

PREVIOUS = "9e6f17832e23"


def _database_at_previous_revision(make_config, instance, url):
    store = store_at(make_config(), instance, PREVIOUS, url=url)
    return store


@pytest.mark.parametrize("with_accounts", [True, False])
def test_upgrade_from_the_previous_schema(make_config, instance, database_url, with_accounts):
    from werkzeug.security import generate_password_hash

    from admin.auth.users import authenticate, load
    from app.store import open_store

    old = _database_at_previous_revision(make_config, instance, database_url)
    if with_accounts:
        with old.engine.begin() as conn:
            for name, role, failed in (("hr", "viewer", 3), ("boss", "admin", 0), ("second", "admin", 4)):
                conn.execute(text(
                    "INSERT INTO admin_users (username, password_hash, role, active, session_epoch, failed_logins,"
                    " locked_until, created_at) VALUES (:n, :h, :r, :a, 7, :f, NULL, '2026-11-30 08:00:00')"),
                    {"n": name, "h": generate_password_hash("a good password", method="scrypt"), "r": role,
                     "a": True, "f": failed})
    old.dispose()
    if database_url is None:
        assert instance.database_path.is_file()

    store = open_store(make_config(), instance, url=database_url)  # upgrades to the newest revision
    try:
        inspector = inspect(store.engine)
        columns = {c["name"] for c in inspector.get_columns("admin_users")}
        assert "failed_logins" not in columns and "locked_until" not in columns
        assert {"username", "address", "failures", "last_at", "not_before"} <= {
            c["name"] for c in inspector.get_columns("login_throttle")}
        with store.engine.connect() as conn:
            claims = conn.execute(text("SELECT id, username FROM setup_claim")).all()
        if not with_accounts:
            assert claims == []
            return
        assert claims == [(1, "boss")]  # the first administrator of that database
        user = authenticate(store, "second", "a good password")
        assert user is not None and user.role == "admin"
        assert load(store, "2:7") is not None  # sessions signed in before the upgrade stay open
    finally:
        store.dispose()

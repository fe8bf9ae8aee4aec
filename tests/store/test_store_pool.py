"""Pooled connections: a SQLite file's are used as they are, a PostgreSQL server's are tested first."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text


def test_sqlite_checkouts_send_no_statement(instance, make_config):
    from app.store import open_store

    store = open_store(make_config(), instance)
    try:
        store.engine.dispose()
        seen: list[str] = []
        event.listen(store.engine, "connect", lambda dbapi, _rec: dbapi.set_trace_callback(seen.append))
        for n in range(3):
            with store.engine.connect() as conn:
                assert conn.execute(text(f"SELECT {n + 10}")).scalar_one() == n + 10
        # the pragmas of the one new connection, then only our statements: no ping per checkout
        assert [s for s in seen if not s.startswith("PRAGMA")] == ["SELECT 10", "SELECT 11", "SELECT 12"]
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgresql_connections_dropped_by_the_server_are_replaced(instance, make_config, postgres_server):
    from app.store import open_store

    store = open_store(make_config(), instance, url=postgres_server.create_database("pool_ping"))
    try:
        first, other = store.engine.connect(), store.engine.connect()
        pid = first.execute(text("SELECT pg_backend_pid()")).scalar_one()
        first.close()  # back in the pool, idle
        # with a timeout it returns once the backend has exited, not merely been signalled: a loaded
        # server must not still be answering when the pool checks the connection
        assert other.execute(text("SELECT pg_terminate_backend(:p, 60000)"), {"p": pid}).scalar_one()
        other.close()
        for _ in range(2):  # both pooled connections are checked: the dead one is replaced, no error
            with store.engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        store.dispose()

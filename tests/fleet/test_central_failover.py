"""A centre on a primary with a streaming standby (pg_basebackup): the terminal's multi-host URL
(docs/fleet.md) reaches whichever server takes writes, before and after the standby is promoted.
(The terminals' riding through the gap with their journals is the link's test.)"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from app.fleet.central import libpq_url
from app.store.pgserver import PostgresServer, find_bindir
from tests.helpers.fleet import Standby, insert_punch, make_centre
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def primary_and_standby():
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    roots = [Path(tempfile.mkdtemp(prefix="daka-pg-primary-")), Path(tempfile.mkdtemp(prefix="daka-pg-standby-"))]
    servers = []
    try:
        primary = PostgresServer(roots[0], bindir)
        servers.append(primary.start())
        standby = Standby(primary, roots[1])
        servers.append(standby)
        yield primary, standby
    finally:
        for server in reversed(servers):
            server.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def _both(url: str, primary, standby) -> str:
    """The terminal's URL naming both servers, writes wanted (libpq's multi-host form)."""
    single = sa.engine.make_url(url)
    return single.set(host=None, port=None, query={
        "host": "127.0.0.1,127.0.0.1", "port": f"{primary.port},{standby.port}",
        "target_session_attrs": "read-write"}).render_as_string(hide_password=False)


def _server_port(conn) -> int:
    return conn.execute("SELECT inet_server_port()").fetchone()[0]


def test_a_terminal_writes_to_the_primary_then_to_the_promoted_standby(primary_and_standby, tmp_path):
    primary, standby = primary_and_standby
    centre = make_centre(primary, tmp_path, terminals=1)
    standby.start()
    terminal = centre.terminals[0]
    url = _both(terminal.url, primary, standby)
    before = uuid.uuid4()
    with psycopg.connect(libpq_url(url)) as c:
        assert _server_port(c) == primary.port
        insert_punch(c, terminal.device_id, "1001", punch_uuid=before)
    wait_for(standby.replayed, timeout=60, step=0.1)

    primary.stop()
    # the standby alone takes no writes: the URL finds no server for them until it is promoted
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(libpq_url(url), connect_timeout=10).close()
    assert f"port {standby.port} failed: session is read-only" in str(refused.value)
    assert f"port {primary.port} failed: Connection refused" in str(refused.value)
    standby.promote()

    after = uuid.uuid4()
    with psycopg.connect(libpq_url(url)) as c:
        assert _server_port(c) == standby.port
        assert c.execute("SELECT fleet_device_id()").fetchone() == (terminal.device_id,)
        insert_punch(c, terminal.device_id, "1001", punch_uuid=after)
        assert insert_punch(c, terminal.device_id, "1001", punch_uuid=before) == 0   # already replicated
    # the store's own engine (SQLAlchemy, as the central admin opens it) takes the same URL
    engine = sa.create_engine(centre.owner_url.replace(f"@127.0.0.1:{primary.port}/", "@/")
                              + f"?host=127.0.0.1,127.0.0.1&port={primary.port},{standby.port}"
                              "&target_session_attrs=read-write", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as c:
            assert set(c.exec_driver_sql("SELECT uuid FROM punches").scalars()) == {before, after}
    finally:
        engine.dispose()

"""Issue 20, check 4: what a terminal's role may do on the centre, and every refusal, on a real cluster.

Each refusal is asserted by PostgreSQL's own answer: ``InsufficientPrivilege`` saying "permission
denied" (no grant) or "row-level security" (a policy), or, where row security hides rows instead of
refusing, by the rows the terminal gets compared with the rows the owner sees.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg import errors

from app.fleet.roles import remove_terminal
from tests.helpers.fleet import add_staff, add_template, insert_punch

pytestmark = pytest.mark.postgres


@pytest.fixture
def seeded(fleet_centre):
    """The centre with a person, a template, a photo, a department, settings (one a secret), an
    override per terminal and one punch of each terminal."""
    t1, t2 = fleet_centre.terminals
    with fleet_centre.connect() as c:
        staff_id = add_staff(c, "1001", "张三")
        add_template(c, staff_id)
        c.execute("INSERT INTO face_photos (sha256, data) VALUES ('abc', '\\x01')")
        c.execute("INSERT INTO departments (name, created_at) VALUES ('车间', now())")
        for key, value in (("ui.sound", True), ("push.secret", "hush"), ("zk_pull.comm_key", 1234)):
            c.execute("INSERT INTO settings (key, value, updated_at) VALUES (%s, %s, now())", (key, json.dumps(value)))
        for t in (t1, t2):
            c.execute("INSERT INTO fleet_device_settings (device_id, key, value) VALUES (%s, 'ui.sound', 'false')",
                      (t.device_id,))
            insert_punch(c, t.device_id, "1001")
        c.execute("INSERT INTO admin_users (username, password_hash, role, active, session_epoch, created_at) "
                  "VALUES ('boss', 'x', 'admin', true, 0, now())")
    return fleet_centre


def _as(centre, terminal) -> psycopg.Connection:
    # autocommit: each refused statement stands alone and the next one runs
    return centre.connect(terminal.url, autocommit=True)


def _denied(conn, sql: str, params=(), *, table: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege) as refused:
        conn.execute(sql, params)
    assert f"permission denied for table {table}" in str(refused.value)


def _rls_refused(conn, sql: str, params=(), *, table: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege) as refused:
        conn.execute(sql, params)
    assert f'violates row-level security policy for table "{table}"' in str(refused.value)


def test_a_terminal_reads_the_library_the_change_log_and_its_own_settings(seeded):
    t1, t2 = seeded.terminals
    with _as(seeded, t1) as c:
        assert c.execute("SELECT staff_no, name FROM staff").fetchall() == [("1001", "张三")]
        assert c.execute("SELECT count(*) FROM face_templates").fetchone() == (1,)
        assert c.execute("SELECT data FROM face_photos WHERE sha256 = 'abc'").fetchone() == (b"\x01",)
        assert c.execute("SELECT name FROM departments").fetchall() == [("车间",)]
        assert c.execute("SELECT count(*) FROM fleet_changes").fetchone()[0] > 0
        assert c.execute("SELECT value FROM fleet_meta WHERE key = 'schema_version'").fetchone() == ("1",)
        # the settings without the registry's secrets (and without the change counter)
        assert c.execute("SELECT key, value FROM fleet_settings_view ORDER BY key").fetchall() == [
            ("ui.sound", "true")]
        # its own overrides and device row only
        assert c.execute("SELECT device_id, key FROM fleet_device_settings").fetchall() == [(t1.device_id, "ui.sound")]
        assert c.execute("SELECT device_id, role_name FROM fleet_devices").fetchall() == [(t1.device_id, t1.role)]
        assert c.execute("SELECT fleet_device_id()").fetchone() == (t1.device_id,)


def test_a_terminal_inserts_punches_with_its_own_device_id_only(seeded):
    t1, t2 = seeded.terminals
    mine = uuid.uuid4()
    with _as(seeded, t1) as c:
        assert insert_punch(c, t1.device_id, "1001", punch_uuid=mine) == 1
        assert insert_punch(c, t1.device_id, "1001", punch_uuid=mine) == 0   # a replay is stored once
        _rls_refused(c, "INSERT INTO punches (uuid, staff_no, name, punched_at, local_date, device_id, source, "
                        "created_at, status) VALUES (%s, '1001', 'x', now(), current_date, %s, 'face', now(), 0)",
                     (uuid.uuid4(), t2.device_id), table="punches")
        # only the uuid column is readable, and only of its own punches (ON CONFLICT needs it)
        # (two of its own: the seeded one and this one; the owner sees the other terminal's third)
        seen = [r[0] for r in c.execute("SELECT uuid FROM punches")]
        assert len(seen) == 2 and mine in seen
        _denied(c, "SELECT name FROM punches", table="punches")
        _denied(c, "UPDATE punches SET name = 'forged'", table="punches")
        _denied(c, "DELETE FROM punches", table="punches")
        _denied(c, "TRUNCATE punches", table="punches")
    with seeded.connect() as c:
        assert c.execute("SELECT device_id, count(*) FROM punches GROUP BY 1 ORDER BY 1").fetchall() == [
            (t1.device_id, 2), (t2.device_id, 1)]


@pytest.mark.parametrize("table", ["admin_users", "api_tokens", "audit_log", "makeup_requests", "push_outbox",
                                   "settings", "fleet_secret_settings", "setup_claim", "login_throttle"])
def test_a_terminal_cannot_read_the_admins_tables(seeded, table):
    with _as(seeded, seeded.terminals[0]) as c:
        _denied(c, f"SELECT * FROM {table}", table=table)


def test_a_terminal_cannot_see_another_devices_overrides_or_row(seeded):
    t1, t2 = seeded.terminals
    with seeded.connect() as c:   # the owner sees both
        assert c.execute("SELECT count(*) FROM fleet_device_settings").fetchone() == (2,)
        assert c.execute("SELECT count(*) FROM fleet_devices").fetchone() == (2,)
    with _as(seeded, t1) as c:
        assert c.execute("SELECT count(*) FROM fleet_device_settings WHERE device_id = %s",
                         (t2.device_id,)).fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM fleet_devices WHERE device_id = %s", (t2.device_id,)).fetchone() == (0,)
        _denied(c, "INSERT INTO fleet_device_settings (device_id, key, value) VALUES (%s, 'x', '1')",
                (t1.device_id,), table="fleet_device_settings")
        _denied(c, "UPDATE fleet_device_settings SET value = '1'", table="fleet_device_settings")


def test_a_terminal_updates_only_its_own_heartbeat_columns(seeded):
    t1, t2 = seeded.terminals
    with _as(seeded, t1) as c:
        updated = c.execute("UPDATE fleet_devices SET heartbeat_at = now(), version = '9.9', pending = 3, "
                            "camera = 'ok', sensor = 'ok', last_error = NULL, last_punch_at = now()")
        assert updated.rowcount == 1
        # another device's row is not there to update
        assert c.execute("UPDATE fleet_devices SET heartbeat_at = now() WHERE device_id = %s",
                         (t2.device_id,)).rowcount == 0
        for column, value in (("enabled", False), ("name", "renamed"), ("location", "x"), ("role_name", t2.role),
                              ("device_id", t2.device_id)):
            _denied(c, f"UPDATE fleet_devices SET {column} = %s", (value,), table="fleet_devices")
        _denied(c, "INSERT INTO fleet_devices (device_id, role_name, name) VALUES ('x', 'y', 'z')",
                table="fleet_devices")
        _denied(c, "DELETE FROM fleet_devices", table="fleet_devices")
    with seeded.connect() as c:
        rows = dict(c.execute("SELECT device_id, heartbeat_at IS NOT NULL FROM fleet_devices").fetchall())
        assert rows == {t1.device_id: True, t2.device_id: False}
        assert c.execute("SELECT version, pending, enabled FROM fleet_devices WHERE device_id = %s",
                         (t1.device_id,)).fetchone() == ("9.9", 3, True)


def test_a_terminal_cannot_write_the_library_or_the_log_directly(seeded):
    t1 = seeded.terminals[0]
    with _as(seeded, t1) as c:
        _denied(c, "INSERT INTO staff (staff_no, name, department, phone, active, created_at, updated_at, zk_uid) "
                   "VALUES ('2', 'x', '', '', true, now(), now(), 99)", table="staff")
        _denied(c, "UPDATE staff SET name = 'x'", table="staff")
        _denied(c, "DELETE FROM staff", table="staff")
        _denied(c, "INSERT INTO face_templates (staff_id, descriptor, model_id, photo_file, photo_sha256, "
                   "original_name, quality, created_at) VALUES (1, '\\x00', 'm', 'f', 's', '', 0, now())",
                table="face_templates")
        _denied(c, "DELETE FROM face_templates", table="face_templates")
        _denied(c, "INSERT INTO face_photos (sha256, data) VALUES ('x', '\\x00')", table="face_photos")
        _denied(c, "INSERT INTO departments (name, created_at) VALUES ('x', now())", table="departments")
        _denied(c, "INSERT INTO fleet_changes (table_name, row_key, op) VALUES ('staff', '1', 'D')",
                table="fleet_changes")
        _denied(c, "DELETE FROM fleet_changes", table="fleet_changes")
        _denied(c, "INSERT INTO push_outbox (punch_id, created_at, attempts, next_attempt_at) "
                   "VALUES (1, now(), 0, now())", table="push_outbox")
        _denied(c, "UPDATE fleet_meta SET value = '0'", table="fleet_meta")
        with pytest.raises(errors.InsufficientPrivilege) as refused:
            c.execute("CREATE TABLE mine (x int)")
        assert "permission denied for schema public" in str(refused.value)


def test_a_terminal_sends_enrolments_as_itself_only(seeded):
    t1, t2 = seeded.terminals
    with _as(seeded, t1) as c:
        _rls_refused(c, "INSERT INTO fleet_enrolments (device_id, staff_no, name, photo, descriptors) "
                        "VALUES (%s, '3001', 'x', '\\x01', '{}')", (t2.device_id,), table="fleet_enrolments")
        c.execute("INSERT INTO fleet_enrolments (staff_no, name, photo, descriptors) VALUES ('3001', 'x', '\\x01', '{}')")
        assert c.execute("SELECT device_id FROM fleet_enrolments").fetchall() == [(t1.device_id,)]
        _denied(c, "UPDATE fleet_enrolments SET error = NULL", table="fleet_enrolments")
        _denied(c, "DELETE FROM fleet_enrolments", table="fleet_enrolments")
    with _as(seeded, t2) as c:   # the first terminal's enrolment is not the second's to read
        assert c.execute("SELECT count(*) FROM fleet_enrolments").fetchone() == (0,)


def test_a_removed_terminal_can_no_longer_connect_and_its_punches_stay(seeded):
    t1 = seeded.terminals[0]
    still_open = _as(seeded, t1)
    try:
        assert remove_terminal(seeded.owner_url, t1.device_id)["removed"] is True
        # a session open at removal writes nothing more (its role lost the group's privileges)
        _denied(still_open, "INSERT INTO punches (uuid, staff_no, name, punched_at, local_date, device_id, source, "
                            "created_at, status) VALUES (%s, '1001', 'x', now(), current_date, %s, 'face', now(), 0)",
                (uuid.uuid4(), t1.device_id), table="punches")
    finally:
        still_open.close()
    with pytest.raises(psycopg.OperationalError) as refused:
        _as(seeded, t1).close()
    assert f'role "{t1.role}" does not exist' in str(refused.value)
    with seeded.connect() as c:
        assert c.execute("SELECT count(*) FROM punches WHERE device_id = %s", (t1.device_id,)).fetchone() == (1,)
        assert c.execute("SELECT enabled FROM fleet_devices WHERE device_id = %s", (t1.device_id,)).fetchone() == (False,)

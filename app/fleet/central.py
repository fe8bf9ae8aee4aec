"""The central database of a fleet: its own objects on top of a normal PostgreSQL store.

``init_centre`` (``daka fleet init``) runs, as the database owner, on a database the store's
Alembic migrations made, and adds what terminals need to share it (app/fleet/sql/centre_v1.sql):
the change log every library and settings change writes (``fleet_changes`` plus a
``pg_notify('daka_changes', change_no)``), the photos table (``face_photos``), the devices and
their per-device settings, the enrolments terminals send up (applied by a trigger), and the
``daka_terminal`` group role with the privileges and row-level security that let a terminal read
the library and write only its own punches, enrolments and heartbeat. It is idempotent and
versioned by ``fleet_meta.schema_version``.

``is_centre(store)`` tells a store that is a centre from one that is not (the face library then
keeps each photo's bytes in ``face_photos``, where every terminal can read them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING

from app import i18n

if TYPE_CHECKING:
    from sqlalchemy import Engine

# SQLAlchemy is imported where it is used: `daka --help` imports this module (the fleet's
# commands) and must not load it.

__all__ = ["CHANGES_CHANNEL", "SCHEMA_VERSION", "SECRET_SETTINGS", "TERMINAL_GROUP", "FleetError", "connect_engine",
           "init_centre", "is_centre", "keep_photo", "libpq_url", "open_connection", "read_photo",
           "schema_version"]

SCHEMA_VERSION = 1
#: The NOLOGIN group role every terminal's role is a member of; its privileges are the terminals'.
TERMINAL_GROUP = "daka_terminal"
#: The channel the change triggers notify, with the change number as the payload.
CHANGES_CHANNEL = "daka_changes"
# init_centre's transaction holds this advisory lock: two runs at once do the work once.
_INIT_LOCK = 0x64616B61_666C74   # "daka" "flt"
# The heartbeat columns of fleet_devices: the only ones a terminal may update (its own row).
HEARTBEAT_COLUMNS = ("version", "heartbeat_at", "camera", "sensor", "pending", "last_punch_at", "last_error")
# What a terminal may read as it is (the library, the change log); the settings through a view.
_TERMINAL_READS = ("staff", "face_templates", "face_photos", "departments", "fleet_changes", "fleet_meta",
                   "fleet_settings_view")
# Tables whose rows a terminal reaches only through its row-level security policies.
_RLS_TABLES = ("punches", "fleet_enrolments", "fleet_devices", "fleet_device_settings")
#: The run-time settings that are secrets (``secret=True`` in app/services/settings.py, a layer
#: above: tests/fleet/test_central_schema.py holds the two lists equal). Terminals never read them.
SECRET_SETTINGS = ("push.secret", "zk_pull.comm_key")
_STORE_TABLES = ("staff", "face_templates", "punches", "settings", "departments", "push_outbox")


class FleetError(Exception):
    """A refusal with a catalogue key (``fleet.<key>`` in app/i18n) and its values."""

    def __init__(self, key: str, **values):
        self.key, self.values = key, values
        super().__init__(self.message("en"))

    def message(self, language: str | None = "zh_CN") -> str:
        return i18n.text(f"fleet.{self.key}", language, **self.values)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as libpq and psycopg take it (``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}" if sep else url


def connect_engine(engine_or_url: Engine | str) -> tuple[Engine, bool]:
    """An engine for ``engine_or_url`` and whether this call made it (then the caller disposes of it)."""
    if not isinstance(engine_or_url, str):
        return engine_or_url, False
    import sqlalchemy as sa  # lazy: see the top

    try:
        url = sa.engine.make_url(engine_or_url)
    except sa.exc.ArgumentError as exc:   # not a URL at all
        raise FleetError("not_postgresql", url=engine_or_url) from exc
    if url.get_backend_name() != "postgresql":
        raise FleetError("not_postgresql", url=url.render_as_string(hide_password=True))
    if url.drivername == "postgresql":   # the store's own driver, whatever libpq URL was given
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url, poolclass=sa.pool.NullPool), True


def _centre_sql() -> str:
    return (resources.files(__package__) / "sql" / "centre_v1.sql").read_text(encoding="utf-8")


def schema_version(connection) -> int:
    """The fleet schema version of the connected database; 0 when it is not a centre."""
    if connection.dialect.name != "postgresql":
        return 0
    if connection.exec_driver_sql("SELECT to_regclass('public.fleet_meta')").scalar() is None:
        return 0
    value = connection.exec_driver_sql(
        "SELECT value FROM fleet_meta WHERE key = 'schema_version'").scalar()
    return int(value) if value is not None else 0


def is_centre(store) -> bool:
    """Whether ``store`` (an app.store.Store) is a fleet's central database."""
    if store.dialect != "postgresql":
        return False
    with store.engine.connect() as connection:
        return schema_version(connection) > 0


def keep_photo(session, data: bytes) -> str:
    """Store a photo's bytes in ``face_photos`` (once per content) in ``session``'s transaction;
    returns its sha256. For a centre's library: terminals read photos from there."""
    digest = hashlib.sha256(data).hexdigest()
    session.connection().exec_driver_sql(
        "INSERT INTO face_photos (sha256, data) VALUES (%(sha256)s, %(data)s) ON CONFLICT (sha256) DO NOTHING",
        {"sha256": digest, "data": data})
    return digest


def read_photo(session, sha256: str) -> bytes | None:
    """A photo's bytes from ``face_photos`` (None when it is not there)."""
    return session.connection().exec_driver_sql(
        "SELECT data FROM face_photos WHERE sha256 = %(sha256)s", {"sha256": sha256}).scalar()


def open_connection(engine: Engine):
    """A connection, or FleetError("unreachable") saying why not."""
    from sqlalchemy.exc import OperationalError  # lazy: see the top

    try:
        return engine.connect()
    except OperationalError as exc:
        raise FleetError("unreachable", url=engine.url.render_as_string(hide_password=True),
                         error=str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc


def _check_owner(connection) -> None:
    """Refuse a role that does not own the database and the store's tables (it cannot add triggers)."""
    missing = [t for t in _STORE_TABLES
               if connection.exec_driver_sql(f"SELECT to_regclass('public.{t}')").scalar() is None]
    if missing:
        raise FleetError("no_store", tables=", ".join(missing))
    row = connection.exec_driver_sql(
        "SELECT current_user, r.rolsuper, pg_has_role(current_user, d.datdba, 'USAGE'), "
        "       pg_has_role(current_user, c.relowner, 'USAGE'), r.rolcreaterole "
        "FROM pg_database d, pg_roles r, pg_class c "
        "WHERE d.datname = current_database() AND r.rolname = current_user "
        "  AND c.oid = 'public.staff'::regclass").one()
    user, superuser, owns_database, owns_tables, createrole = row
    if not superuser and not (owns_database and owns_tables):
        raise FleetError("not_owner", user=user)
    exists = connection.exec_driver_sql(
        "SELECT 1 FROM pg_roles WHERE rolname = %s", (TERMINAL_GROUP,)).scalar()
    if not exists and not (superuser or createrole):
        raise FleetError("no_createrole", user=user)


def _grants(connection) -> None:
    """The terminals' privileges, from nothing: revoke all, then grant the list (a re-run repairs)."""
    run = connection.exec_driver_sql
    run(f"""DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TERMINAL_GROUP}') THEN
                  CREATE ROLE {TERMINAL_GROUP} NOLOGIN;
              END IF;
            END $$""")
    database = run("SELECT current_database()").scalar()
    run(f'GRANT CONNECT ON DATABASE "{database}" TO {TERMINAL_GROUP}')
    run(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {TERMINAL_GROUP}")
    run(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {TERMINAL_GROUP}")
    run(f"GRANT USAGE ON SCHEMA public TO {TERMINAL_GROUP}")
    # Before PostgreSQL 15 every role may create tables in "public"; a terminal must not. Only the
    # schema's owner may take that away (docs/fleet.md says how when the owner is not it).
    if run("SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = 'public'").scalar():
        run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    run(f"GRANT SELECT ON {', '.join(_TERMINAL_READS)} TO {TERMINAL_GROUP}")
    run(f"GRANT SELECT ON fleet_device_settings, fleet_devices TO {TERMINAL_GROUP}")
    run(f"GRANT UPDATE ({', '.join(HEARTBEAT_COLUMNS)}) ON fleet_devices TO {TERMINAL_GROUP}")
    run(f"GRANT INSERT ON punches TO {TERMINAL_GROUP}")
    # ON CONFLICT (uuid) DO NOTHING, the uploader's exactly-once, needs SELECT on its arbiter column.
    run(f"GRANT SELECT (uuid) ON punches TO {TERMINAL_GROUP}")
    run(f"GRANT SELECT, INSERT ON fleet_enrolments TO {TERMINAL_GROUP}")
    for table in ("punches", "fleet_enrolments"):
        sequence = run("SELECT pg_get_serial_sequence(%s, 'id')", (f"public.{table}",)).scalar()
        run(f"GRANT USAGE ON SEQUENCE {sequence} TO {TERMINAL_GROUP}")
    # Row-level security. The owner bypasses it (the central admin connects as the owner); another
    # role that is no terminal keeps whatever its grants give it ("fleet_not_terminal").
    member = f"pg_has_role(session_user, '{TERMINAL_GROUP}', 'MEMBER')"
    policies = {
        # The SELECT policy serves ON CONFLICT, which checks the new row against it: a terminal
        # sees (the uuid of) its own punches, nothing of the others'.
        "punches": [("fleet_terminal_insert", "INSERT", None, "device_id = fleet_device_id()"),
                    ("fleet_terminal_select", "SELECT", "device_id = fleet_device_id()", None)],
        "fleet_enrolments": [("fleet_terminal_insert", "INSERT", None, "device_id = fleet_device_id()"),
                             ("fleet_terminal_select", "SELECT", "device_id = fleet_device_id()", None)],
        "fleet_devices": [("fleet_terminal_select", "SELECT", "role_name = session_user::text", None),
                          ("fleet_terminal_update", "UPDATE", "role_name = session_user::text",
                           "role_name = session_user::text")],
        "fleet_device_settings": [("fleet_terminal_select", "SELECT", "device_id = fleet_device_id()", None)],
    }
    for table in _RLS_TABLES:
        run(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name, command, using, check in policies[table]:
            run(f"DROP POLICY IF EXISTS {name} ON {table}")
            run(f"CREATE POLICY {name} ON {table} FOR {command} TO {TERMINAL_GROUP}"
                + (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else ""))
        run(f"DROP POLICY IF EXISTS fleet_not_terminal ON {table}")
        run(f"CREATE POLICY fleet_not_terminal ON {table} TO PUBLIC USING (NOT {member}) WITH CHECK (NOT {member})")


def _set_secret_keys(connection, secret_keys: Iterable[str]) -> None:
    keys = sorted(set(secret_keys))
    stored = sorted(connection.exec_driver_sql("SELECT key FROM fleet_secret_settings").scalars())
    if stored == keys:
        return
    connection.exec_driver_sql("DELETE FROM fleet_secret_settings")
    for key in keys:
        connection.exec_driver_sql("INSERT INTO fleet_secret_settings (key) VALUES (%s)", (key,))


def init_centre(engine_or_url: Engine | str, *, secret_keys: Iterable[str] = SECRET_SETTINGS) -> dict:
    """Make the connected PostgreSQL store a fleet centre (idempotent); ``secret_keys``: the
    settings terminals must not read (the registry's secrets). Returns ``{"schema_version": n,
    "created": bool}`` (False when it already was a centre of this version: nothing is changed but
    the list of secret keys)."""
    engine, made = connect_engine(engine_or_url)
    try:
        connection = open_connection(engine)
        with connection, connection.begin():
            if connection.dialect.name != "postgresql":
                raise FleetError("not_postgresql", url=engine.url.render_as_string(hide_password=True))
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_INIT_LOCK,))
            _check_owner(connection)
            version = schema_version(connection)
            if version > SCHEMA_VERSION:
                raise FleetError("newer_schema", found=version, known=SCHEMA_VERSION)
            created = version < SCHEMA_VERSION
            if created:
                # Several statements and dollar-quoted bodies: the driver's simple query runs them as one.
                connection.connection.driver_connection.execute(_centre_sql())
                _grants(connection)
                connection.exec_driver_sql(
                    "INSERT INTO fleet_meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
            _set_secret_keys(connection, secret_keys)
        return {"schema_version": SCHEMA_VERSION, "created": created}
    finally:
        if made:
            engine.dispose()

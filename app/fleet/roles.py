"""The terminals' PostgreSQL roles on a centre: add, remove, list (``daka fleet add-terminal`` ...).

A terminal named ``gate1`` is the LOGIN role ``daka_t_gate1``, a member of ``daka_terminal`` (whose
privileges are all it has: app/fleet/central.py), and the ``fleet_devices`` row with device id
``gate1``. Its password is generated here and sent to the server only as a SCRAM-SHA-256 verifier,
so the clear password never reaches the server's statement log; a certificate role has no password
(the server's pg_hba.conf must then say ``cert`` for it: docs/fleet.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .central import TERMINAL_GROUP, FleetError, connect_engine, open_connection, schema_version

if TYPE_CHECKING:
    from sqlalchemy import URL, Engine

__all__ = ["ROLE_PREFIX", "FleetError", "TerminalRole", "add_terminal", "check_terminal_name", "list_terminals",
           "remove_terminal", "role_name", "scram_verifier"]

ROLE_PREFIX = "daka_t_"
# Lower-case letters, digits and "_", a letter first: a role name that needs no quoting anywhere
# (pg_hba.conf, a certificate's CN, a URL), and the device id as it is.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Connections one terminal may hold (its link needs a few); a runaway terminal cannot take the server's.
CONNECTION_LIMIT = 10
_SCRAM_ITERATIONS = 4096


@dataclass(frozen=True)
class TerminalRole:
    device_id: str
    role: str
    name: str
    location: str
    password: str | None          # None for a certificate role
    url: str                      # the terminal's [fleet] database_url

    def toml(self) -> str:
        """The lines of the terminal's daka.toml."""
        return f'[fleet]\ndatabase_url = "{self.url}"\n'

    def as_dict(self) -> dict:
        return {**asdict(self), "toml": self.toml()}


def check_terminal_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise FleetError("bad_terminal_name", name=name)
    return name


def role_name(name: str) -> str:
    return ROLE_PREFIX + check_terminal_name(name)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = _SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, RFC 7677)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _open(engine_or_url):
    engine, made = connect_engine(engine_or_url)
    try:
        return engine, made, open_connection(engine)
    except FleetError:
        if made:
            engine.dispose()
        raise


def _require_centre(connection) -> None:
    if schema_version(connection) == 0:
        raise FleetError("not_centre")
    manager = connection.exec_driver_sql(
        "SELECT r.rolsuper OR r.rolcreaterole FROM pg_roles r WHERE r.rolname = current_user").scalar()
    owner = connection.exec_driver_sql(
        "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
        "WHERE c.oid = 'public.fleet_devices'::regclass").scalar()
    if not (manager and owner):
        raise FleetError("not_owner", user=connection.exec_driver_sql("SELECT current_user").scalar())


@contextmanager
def _at_centre(engine_or_url, *, transaction: bool = True):
    """The owner's connection to a fleet centre (FleetError "not_centre" when the database is not
    one), in one transaction when `transaction`; an engine made here is disposed of after."""
    engine, made, connection = _open(engine_or_url)
    try:
        with connection, (connection.begin() if transaction else nullcontext()):
            _require_centre(connection)
            yield engine, connection
    finally:
        if made:
            engine.dispose()


def terminal_url(owner_url: URL, role: str, password: str | None, *, host: str | None = None,
                 port: int | None = None, sslmode: str | None = None, cert_dir: str | None = None) -> str:
    """The terminal's URL: the owner's server and database, the terminal's role."""
    url = owner_url.set(drivername="postgresql+psycopg", username=role, password=password)
    if host:
        url = url.set(host=host)
    if port:
        url = url.set(port=port)
    query = dict(url.query)
    if sslmode:
        query["sslmode"] = sslmode
    if cert_dir is not None:
        query.update(sslmode=sslmode or "verify-full", sslrootcert=f"{cert_dir}/root.crt",
                     sslcert=f"{cert_dir}/{role}.crt", sslkey=f"{cert_dir}/{role}.key")
    return url.set(query=query).render_as_string(hide_password=False)


def add_terminal(engine_or_url: Engine | str, name: str, *, location: str = "", cert: bool = False,
                 host: str | None = None, port: int | None = None, sslmode: str | None = None,
                 cert_dir: str = "/etc/daka/fleet") -> TerminalRole:
    """Create the terminal's role and its device row; its connection settings."""
    role = role_name(name)
    with _at_centre(engine_or_url) as (engine, connection):
        run = connection.exec_driver_sql
        if run("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar() or \
                run("SELECT 1 FROM fleet_devices WHERE device_id = %s AND enabled", (name,)).scalar():
            raise FleetError("terminal_exists", name=name)
        password = None if cert else secrets.token_urlsafe(24)
        secret = f" PASSWORD '{scram_verifier(password)}'" if password else " PASSWORD NULL"
        run(f'CREATE ROLE "{role}" LOGIN INHERIT CONNECTION LIMIT {CONNECTION_LIMIT}{secret}')
        run(f'GRANT {TERMINAL_GROUP} TO "{role}"')
        # A removed terminal's row stays (its punches name it): adding the name again revives it.
        run("INSERT INTO fleet_devices (device_id, role_name, name, location, enabled) "
            "VALUES (%s, %s, %s, %s, true) ON CONFLICT (device_id) DO UPDATE SET role_name = excluded.role_name, "
            "name = excluded.name, location = excluded.location, enabled = true, last_error = NULL",
            (name, role, name, location))
    url = terminal_url(engine.url, role, password, host=host, port=port, sslmode=sslmode,
                       cert_dir=cert_dir if cert else None)
    return TerminalRole(name, role, name, location, password, url)


def remove_terminal(engine_or_url: Engine | str, name: str) -> dict:
    """Disable the device and drop its role; its punches stay (they carry its device id)."""
    role = role_name(name)
    with _at_centre(engine_or_url) as (_, connection):
        run = connection.exec_driver_sql
        found = run("UPDATE fleet_devices SET enabled = false WHERE device_id = %s RETURNING role_name",
                    (name,)).scalar()
        exists = run("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar()
        if found is None and not exists:
            raise FleetError("unknown_terminal", name=name)
        if exists:
            from sqlalchemy.exc import DBAPIError  # lazy: `daka --help` imports this module

            run(f'ALTER ROLE "{role}" NOLOGIN')
            # Its open sessions end now (they could not write anyway: a disabled device has no
            # id). Best effort: the owner may lack the right to signal them.
            try:
                with connection.begin_nested():
                    run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            except DBAPIError:
                pass
            run(f'DROP ROLE "{role}"')
    return {"device_id": name, "role": role, "removed": True}


def list_terminals(engine_or_url: Engine | str) -> list[dict]:
    """Every device row, with whether its role still exists."""
    with _at_centre(engine_or_url, transaction=False) as (_, connection):
        rows = connection.exec_driver_sql(
            "SELECT d.device_id, d.role_name, d.name, d.location, d.enabled, d.created_at, d.version, "
            "d.heartbeat_at, d.last_punch_at, d.pending, d.last_error, "
            "EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = d.role_name) AS has_role "
            "FROM fleet_devices d ORDER BY d.device_id").mappings().all()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]

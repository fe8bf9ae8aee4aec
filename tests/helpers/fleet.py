"""A fleet centre on a test cluster: a database the store set up, ``init_centre``, N terminal roles.

``make_centre(postgres_server, tmp_path, terminals=3)`` returns a :class:`Centre`: the owner's URL
(what the central admin's ``DATABASE_URL`` is) and each terminal's :class:`~app.fleet.roles.TerminalRole`
(``url``, ``device_id``, ``role``). The database belongs to ``daka_fleet_owner``, a role that is no
superuser (a superuser would bypass the row-level security the tests prove), made once per cluster.
Role names are cluster-wide, so each centre's terminals are named after its database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid
from dataclasses import dataclass, field

import psycopg

from app.config import load_config
from app.fleet.central import init_centre, libpq_url
from app.fleet.roles import TerminalRole, add_terminal
from app.instance import Instance
from app.store import open_store

OWNER, OWNER_PASSWORD = "daka_fleet_owner", "owner-secret"
_numbers = itertools.count(1)


@dataclass
class Centre:
    server: object
    database: str
    owner_url: str
    terminals: list[TerminalRole] = field(default_factory=list)

    def connect(self, url: str | None = None, **kwargs) -> psycopg.Connection:
        """A psycopg connection as the owner, or as the role of ``url`` (a terminal's)."""
        return psycopg.connect(libpq_url(url or self.owner_url), **kwargs)

    def add_terminal(self, name: str, **kwargs) -> TerminalRole:
        role = add_terminal(self.owner_url, name, **kwargs)
        self.terminals.append(role)
        return role


def ensure_owner(server) -> None:
    """The cluster's non-superuser owner role (CREATEROLE: it makes the terminals' roles)."""
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=daka dbname=postgres", autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone() is None:
            c.execute(f"CREATE ROLE {OWNER} LOGIN CREATEROLE PASSWORD '{OWNER_PASSWORD}'")


def make_database(server, name: str | None = None) -> tuple[str, str]:
    """An empty database owned by the owner role: (its name, the owner's URL)."""
    ensure_owner(server)
    name = name or f"fleet{next(_numbers)}"
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=daka dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" OWNER {OWNER}')
    return name, f"postgresql+psycopg://{OWNER}:{OWNER_PASSWORD}@127.0.0.1:{server.port}/{name}"


def setup_store(tmp_path, url: str) -> None:
    """The store's own set-up (Alembic to the newest revision) on ``url``, as the admin does it."""
    instance = Instance(tmp_path / "centre-instance").prepare()
    store = open_store(load_config(instance), instance, url=url)
    store.dispose()


def make_centre(server, tmp_path, terminals: int = 2, *, init: bool = True) -> Centre:
    """A centre with ``terminals`` terminal roles named ``<database>_t1`` ... (``init=False``: the
    store only, for tests of ``daka fleet init`` itself)."""
    database, owner_url = make_database(server)
    setup_store(tmp_path, owner_url)
    centre = Centre(server, database, owner_url)
    if init:
        init_centre(owner_url)
        for i in range(1, terminals + 1):
            centre.add_terminal(f"{database}_t{i}", location=f"gate {i}")
    return centre


# -- rows written with plain SQL (as a terminal would, or the owner seeding a library) -------------

def add_staff(conn, staff_no: str, name: str, *, department: str = "") -> int:
    """A staff row (every NOT NULL column the ORM fills), its id."""
    return conn.execute(
        "INSERT INTO staff (staff_no, name, department, phone, active, created_at, updated_at, zk_uid) "
        "VALUES (%s, %s, %s, '', true, now(), now(), (SELECT coalesce(max(zk_uid), 0) + 1 FROM staff)) "
        "RETURNING id", (staff_no, name, department)).fetchone()[0]


def add_template(conn, staff_id: int, *, photo: bytes = b"photo", model_id: str = "m1", dim: int = 4) -> int:
    """A face template row of ``staff_id`` (a ``dim``-float descriptor), its id."""
    digest = hashlib.sha256(photo).hexdigest()
    return conn.execute(
        "INSERT INTO face_templates (staff_id, descriptor, model_id, photo_file, photo_sha256, original_name, "
        "quality, created_at) VALUES (%s, %s, %s, %s, %s, '', 0.5, now()) RETURNING id",
        (staff_id, bytes(4 * dim), model_id, f"{digest[:16]}.jpg", digest)).fetchone()[0]


def insert_punch(conn, device_id: str, staff_no: str, *, punch_uuid: uuid.UUID | None = None,
                 staff_id: int | None = None, name: str = "someone") -> int:
    """One punch as a terminal's uploader writes it (``ON CONFLICT (uuid) DO NOTHING``); rows inserted."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return conn.execute(
        "INSERT INTO punches (uuid, staff_id, staff_no, name, punched_at, local_date, device_id, score, source, "
        "created_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s, 0.9, 'face', %s, 0) "
        "ON CONFLICT (uuid) DO NOTHING",
        (punch_uuid or uuid.uuid4(), staff_id, staff_no, name, now, now.date(), device_id, now)).rowcount

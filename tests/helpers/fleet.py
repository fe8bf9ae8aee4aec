"""A fleet centre on a test cluster: a database the store set up, ``init_centre``, N terminal roles.

``make_centre(postgres_server, tmp_path, terminals=3)`` returns a :class:`Centre`: the owner's URL
(what the central admin's ``DATABASE_URL`` is) and each terminal's :class:`~app.fleet.roles.TerminalRole`
(``url``, ``device_id``, ``role``). The database belongs to ``daka_fleet_owner``, a role that is no
superuser (a superuser would bypass the row-level security the tests prove), made once per cluster.
Role names are cluster-wide, so each centre's terminals are named after its database.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import psycopg

from app.config import load_config
from app.fleet.central import init_centre, libpq_url
from app.fleet.roles import TerminalRole, add_terminal
from app.instance import Instance
from app.services.settings import REGISTRY
from app.store import open_store

OWNER, OWNER_PASSWORD = "daka_fleet_owner", "owner-secret"
_numbers = itertools.count(1)


def secret_keys() -> list[str]:
    """The run-time settings terminals must not read (what `daka fleet init` passes)."""
    return sorted(key for key, setting in REGISTRY.items() if setting.secret)


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
        init_centre(owner_url, secret_keys=secret_keys())
        for i in range(1, terminals + 1):
            centre.add_terminal(f"{database}_t{i}", location=f"gate {i}")
    return centre

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
import ipaddress
import itertools
import os
import pwd
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.config import load_config
from app.fleet.central import init_centre, libpq_url
from app.fleet.roles import TerminalRole, add_terminal
from app.instance import Instance
from app.store.pgserver import PostgresServer
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


# -- TLS: a throw-away certificate authority, the server's certificate, client certificates --------

@dataclass(frozen=True)
class Authority:
    """A self-signed CA that signs the server's and the clients' certificates (PEM files in ``folder``)."""

    folder: Path
    key: object
    cert: object

    @property
    def root(self) -> Path:
        return self.folder / "root.crt"

    def issue(self, common_name: str, *, server: bool = False, folder: Path | None = None) -> tuple[Path, Path]:
        """A certificate for ``common_name`` (a server's: for localhost and 127.0.0.1); its (crt, key) files."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        folder = folder or self.folder
        folder.mkdir(parents=True, exist_ok=True)
        crt, pem = folder / f"{common_name}.crt", folder / f"{common_name}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        pem.chmod(0o600)   # libpq and the server refuse a key others can read
        return crt, pem


def make_authority(folder: Path, name: str = "Daka test CA") -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(folder, key, cert)


def serve_tls(server, authority: Authority, hba: list[str]) -> None:
    """Turn on TLS on a started cluster (the authority's server certificate, its root for client
    certificates) and replace pg_hba.conf with ``hba`` (the superuser ``daka`` keeps a trust line)."""
    data = Path(server.data)
    crt, key = authority.issue("localhost", server=True, folder=data)
    (data / "root.crt").write_bytes(authority.root.read_bytes())
    lines = ["local all all trust", "host all daka 127.0.0.1/32 trust", *hba]
    (data / "pg_hba.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"\nssl = on\nssl_cert_file = '{crt.name}'\nssl_key_file = '{key.name}'\n"
                   "ssl_ca_file = 'root.crt'\n")
    if os.geteuid() == 0:   # the server runs as postgres and must own its key
        user = pwd.getpwnam("postgres")
        for path in (crt, key, data / "root.crt", data / "pg_hba.conf"):
            os.chown(path, user.pw_uid, user.pw_gid)
    server._run(str(server.bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "restart",
                "-l", str(Path(server.root) / "server.log"))


# -- a streaming standby of a test cluster (pg_basebackup), for failover -----------------------------

class Standby(PostgresServer):
    """A hot standby of ``primary`` in ``root`` (``pg_basebackup -R``: it follows the primary's WAL
    stream until :meth:`promote`). Stop it like any server."""

    def __init__(self, primary: PostgresServer, root: Path):
        super().__init__(root, primary.bindir)
        self.primary = primary

    def start(self) -> Standby:
        self._run(str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "daka",
                  "-D", str(self.data), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
        return self

    def replayed(self) -> bool:
        """Whether the standby has replayed everything the primary has written so far."""
        with psycopg.connect(f"host=127.0.0.1 port={self.primary.port} user=daka dbname=postgres") as p, \
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=daka dbname=postgres") as s:
            written = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            return s.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (written,)).fetchone()[0]

    def promote(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

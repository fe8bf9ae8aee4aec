"""TLS to the centre: a cluster of its own serving a certificate from a throw-away authority, with the
pg_hba.conf docs/fleet.md gives (terminals only over TLS; a password role by SCRAM, a certificate
role by its certificate). The terminal's password is sent to the server only as the SCRAM verifier
app.fleet.roles computes, so a password login here also proves that verifier right."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from app.fleet.central import libpq_url
from app.store.pgserver import PostgresServer, find_bindir
from tests.helpers.fleet import OWNER, make_authority, make_centre, serve_tls

pytestmark = pytest.mark.postgres

CERT_TERMINAL = "tls_certgate"


@pytest.fixture(scope="module")
def tls_cluster():
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="daka-pg-tls-"))
    server = PostgresServer(root, bindir)
    try:
        server.start()
        authority = make_authority(root / "ca")
        serve_tls(server, authority, [
            f"hostssl all daka_t_{CERT_TERMINAL} 127.0.0.1/32 cert",
            "hostssl all +daka_terminal 127.0.0.1/32 scram-sha-256",
            "hostnossl all +daka_terminal 127.0.0.1/32 reject",
            f"hostssl all {OWNER} 127.0.0.1/32 scram-sha-256",
        ])
        yield server, authority
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _connect(url: str, **query) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), **query)


def _ssl_in_use(conn) -> bool:
    return conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]


def test_a_terminal_connects_over_tls_with_its_password(tls_cluster, tmp_path):
    server, authority = tls_cluster
    centre = make_centre(server, tmp_path, terminals=1)
    terminal = centre.terminals[0]
    for mode in ("require", "verify-ca", "verify-full"):
        with _connect(terminal.url, sslmode=mode, sslrootcert=str(authority.root)) as c:
            assert _ssl_in_use(c)
            assert c.execute("SELECT fleet_device_id()").fetchone() == (terminal.device_id,)
    # localhost is in the server certificate as well as 127.0.0.1
    with _connect(terminal.url.replace("@127.0.0.1:", "@localhost:"), sslmode="verify-full",
                  sslrootcert=str(authority.root)) as c:
        assert _ssl_in_use(c)


def test_the_centre_refuses_a_terminal_without_tls_a_wrong_password_and_a_forged_server(tls_cluster, tmp_path):
    server, authority = tls_cluster
    centre = make_centre(server, tmp_path, terminals=1)
    terminal = centre.terminals[0]
    with pytest.raises(psycopg.OperationalError) as refused:
        _connect(terminal.url, sslmode="disable").close()
    assert "pg_hba.conf rejects connection" in str(refused.value)
    with pytest.raises(psycopg.OperationalError) as refused:
        _connect(terminal.url.replace(terminal.password, "not-the-password"), sslmode="require").close()
    assert "password authentication failed" in str(refused.value)
    # a server whose certificate another authority signed is not trusted
    other = make_authority(tmp_path / "other-ca", "Someone else")
    with pytest.raises(psycopg.OperationalError) as refused:
        _connect(terminal.url, sslmode="verify-full", sslrootcert=str(other.root)).close()
    assert "certificate verify failed" in str(refused.value)


def test_a_certificate_terminal_signs_in_with_its_certificate_only(tls_cluster, tmp_path):
    server, authority = tls_cluster
    centre = make_centre(server, tmp_path, terminals=0)
    cert_dir = tmp_path / "terminal-certs"
    terminal = centre.add_terminal(CERT_TERMINAL, cert=True, cert_dir=str(cert_dir))
    assert terminal.password is None and "sslmode=verify-full" in terminal.url
    # what the installer copies onto the terminal: the root and the terminal's certificate (CN = its role)
    cert_dir.mkdir()
    shutil.copy(authority.root, cert_dir / "root.crt")
    authority.issue(terminal.role, folder=cert_dir)
    with _connect(terminal.url) as c:
        assert _ssl_in_use(c)
        assert c.execute("SELECT fleet_device_id()").fetchone() == (CERT_TERMINAL,)
    # a certificate for another name does not sign in as this role
    wrong = tmp_path / "wrong"
    crt, key = authority.issue("daka_t_someone_else", folder=wrong)
    with pytest.raises(psycopg.OperationalError) as refused:
        _connect(terminal.url, sslcert=str(crt), sslkey=str(key)).close()
    assert "certificate authentication failed" in str(refused.value)
    # nor does one without a certificate
    with pytest.raises(psycopg.OperationalError) as refused:
        _connect(terminal.url, sslcert=str(tmp_path / "missing.crt"), sslkey=str(tmp_path / "missing.key")).close()
    assert "certificate" in str(refused.value)

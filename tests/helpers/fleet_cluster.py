"""A PostgreSQL cluster a fleet test may stop and start again, and give a streaming standby.

The session's ``postgres_server`` must keep running for every other test, so a test that takes
the centre away has a cluster of its own: ``Cluster()`` (initdb at the first ``start()``,
the same port on every start), ``stop()`` (a fast shutdown: sessions end, as when a server goes
down), ``standby()`` (``pg_basebackup -R``: a streaming replica on its own port) and
``promote()``. ``close()`` stops it for sure (tests call it in ``finally``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from app.store.pgserver import PostgresServer, find_bindir


class Cluster(PostgresServer):
    def __init__(self, bindir: Path | None = None):
        bindir = bindir or find_bindir()
        if bindir is None:
            pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
        # not under pytest's tmp_path: the postgres user cannot enter root's 0700 folders
        super().__init__(Path(tempfile.mkdtemp(prefix="daka-fleet-pg-")), bindir)
        self.running = False

    def start(self) -> Cluster:
        if not (self.data / "PG_VERSION").exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "daka", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Shut the server down (``fast``: sessions are ended and the WAL is streamed to a standby)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def standby(self) -> Cluster:
        """A streaming standby of this cluster (not started)."""
        replica = Cluster(self.bindir)
        self._run(str(self.bindir / "pg_basebackup"), "-D", str(replica.data), "-R", "-X", "stream",
                  "-h", "127.0.0.1", "-p", str(self.port), "-U", "daka", "--no-sync", "--checkpoint=fast")
        return replica

    def promote(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

    def in_recovery(self) -> bool:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=daka dbname=postgres") as c:
            return c.execute("SELECT pg_is_in_recovery()").fetchone()[0]

    def close(self) -> None:
        if self.running or (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

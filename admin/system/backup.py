"""SQLite backup and restore with the online backup API (safe while the terminal writes)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.config import Config as AlembicConfig

from app.library.names import BadName, check_department, check_person_name, check_photo_file, check_staff_no
from app.store import MIGRATIONS_DIR, open_store


class BackupError(ValueError):
    pass


def sqlite_path(store) -> Path:
    if store.dialect != "sqlite":
        raise BackupError("backup and restore here are for SQLite; use pg_dump for PostgreSQL")
    return Path(store.engine.url.database)


def backup_to(store, target: Path) -> Path:
    src = sqlite3.connect(sqlite_path(store))
    try:
        dst = sqlite3.connect(target)
        with dst:
            src.backup(dst)
        dst.close()
    finally:
        src.close()
    return target


def _scripts() -> ScriptDirectory:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg)


def _head() -> str:
    return _scripts().get_current_head()


def backup_revision(path: Path) -> str | None:
    """The schema revision a readable, intact SQLite backup was made at, or BackupError."""
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise BackupError("not an SQLite database")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("the database fails its integrity check")
            rev = con.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not a Daka database: {exc}") from exc
    return rev[0] if rev else None


def check_backup(path: Path) -> None:
    """A readable SQLite file at this code's schema revision with rows that follow the rules, or
    BackupError."""
    rev = backup_revision(path)
    if rev != _head():
        raise BackupError(f"schema revision {rev} is not this version's {_head()}")
    check_rows(path)


def upgrade_backup(store, path: Path) -> str:
    """Bring a backup made by an earlier version up to this version's schema, in place (``path`` is
    the restore's own temporary copy). Return the revision it was made at.

    A backup from a newer version, or with no revision at all, is refused: its schema is unknown here.
    """
    rev = backup_revision(path)
    head = _head()
    if rev == head:
        return rev
    known = {r.revision for r in _scripts().walk_revisions()}
    if rev is None or rev not in known:
        raise BackupError(f"schema revision {rev} is unknown to this version (made by a newer Daka?)")
    config, instance = store.app.config["DAKA_CONFIG"], store.app.config["DAKA_INSTANCE"]
    try:
        open_store(config, instance, url=f"sqlite:///{path}").dispose()   # runs the migrations since rev
    except Exception as exc:  # noqa: BLE001 - any failure leaves the live database as it was
        raise BackupError(f"upgrading the backup from revision {rev} failed: {exc}") from exc
    return rev


def check_rows(path: Path) -> None:
    """The backup's names and stored photo paths follow the rules new data follows, or BackupError.

    A restored row is trusted afterwards (a photo name is joined to the photos folder when the
    photo is shown or deleted), so a tampered backup is refused as a whole, before anything changes.
    """
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for staff_no, name, department in con.execute("SELECT staff_no, name, department FROM staff"):
            try:
                check_staff_no(staff_no)
                check_person_name(name)
                check_department(department or "")
            except BadName as exc:
                raise BackupError(f"staff {str(staff_no)[:40]!r}: {exc}") from exc
        for template_id, photo_file in con.execute("SELECT id, photo_file FROM face_templates"):
            try:
                check_photo_file(photo_file)
            except BadName as exc:
                raise BackupError(f"face template {template_id}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not a Daka database: {exc}") from exc
    finally:
        con.close()


def restore_from(store, upload: Path) -> None:
    """Replace the live database with ``upload`` (a temporary copy, upgraded in place when it was
    made by an earlier version)."""
    upgrade_backup(store, upload)
    check_backup(upload)
    live = sqlite_path(store)
    store.engine.dispose()  # pooled connections would keep reading the old pages
    src = sqlite3.connect(upload)
    try:
        dst = sqlite3.connect(live, timeout=30)
        with dst:
            src.backup(dst)
        dst.close()
    finally:
        src.close()


def temp_file(suffix: str = ".sqlite3") -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="daka-backup-")
    os.close(fd)
    return Path(name)

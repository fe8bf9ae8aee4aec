"""Engine set-up (SQLite pragmas), the store's Flask app and the :class:`Store` handle."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from .extensions import db, migrate
from .models import AuditEntry

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def database_url(config, instance) -> str:
    """The configured URL, or the SQLite file in the instance folder."""
    return config.storage.database_url or f"sqlite:///{instance.database_path}"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Only SQLite connections carry these; every connection of the pool gets them.
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # FULL: a committed flush survives power loss, since the journal segment is deleted after it.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def create_store_app(config, instance, *, url: str | None = None, extra: dict | None = None) -> Flask:
    """A Flask app with the store's extensions bound (no blueprints, no scheduler)."""
    app = Flask("daka", instance_path=str(instance.root), instance_relative_config=True)
    url = url or database_url(config, instance)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        # A server's connections can drop (restart, idle timeout): test each before use. A SQLite
        # file's cannot, and the test would cost a statement on every checkout.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": not url.startswith("sqlite")},
        DAKA_CONFIG=config,
        DAKA_INSTANCE=instance,
    )
    if extra:
        app.config.update(extra)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    return app


class Store:
    """A bound app plus sessions usable from any thread, no Flask context needed."""

    def __init__(self, app: Flask):
        self.app = app
        with app.app_context():
            self.engine: Engine = db.engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Migrate the database to the newest revision."""
        from flask_migrate import upgrade

        with self.app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))

    @contextmanager
    def session(self):
        """A session in one transaction: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    def audit(self, session: Session, actor: str, action: str, **detail: Any) -> None:
        session.add(AuditEntry(actor=actor, action=action,
                               detail=json.dumps(detail, ensure_ascii=False, default=str)))

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(config, instance, *, url: str | None = None, upgrade: bool = True) -> Store:
    """Bind, migrate (unless told not to) and return the store."""
    store = Store(create_store_app(config, instance, url=url))
    if upgrade:
        store.upgrade()
    return store

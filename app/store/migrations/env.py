"""Alembic environment: runs inside the store's Flask app (see app/store/setup.py).

Logging is left to loguru (no fileConfig here), and SQLite gets batch mode so that
constraints can be altered by copying the table.
"""

from alembic import context
from flask import current_app

import app.store.models  # noqa: F401  (registers the tables on the metadata)

config = context.config
migrate_ext = current_app.extensions["migrate"]
target_metadata = migrate_ext.db.metadata


def _skip_empty_autogenerate(ctx, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def run_migrations_online() -> None:
    args = dict(migrate_ext.configure_args)
    args.setdefault("process_revision_directives", _skip_empty_autogenerate)
    with migrate_ext.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **args)
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    url = migrate_ext.db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

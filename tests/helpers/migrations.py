"""A store left at an older schema revision, as an earlier release left its database: the
migration tests write rows the old way into it, then open it with the newest code."""

from __future__ import annotations


def store_at(config, instance, revision: str, url: str | None = None):
    from flask_migrate import upgrade

    from app.store import MIGRATIONS_DIR, Store, create_store_app

    store = Store(create_store_app(config, instance, url=url))
    with store.app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=revision)
    return store

"""The ``settings`` table: values an admin stored for run-time settings, and their change number.

Table access only: which keys exist, their validation and how a change is applied live in the
run-time settings registry (``app/services/settings.py``). Values are JSON. Every write or
delete bumps the change number (the row :data:`VERSION_KEY`) in the same transaction, so a
process can notice a change made by another one by reading one row
(:func:`settings_version`), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Integer, Text, cast, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import Setting
from .setup import Store

__all__ = ["VERSION_KEY", "delete_setting", "read_setting", "read_settings", "settings_version",
           "write_setting"]

#: The row holding the change number (not a config key: config keys are ``section.key``).
VERSION_KEY = "_version"

_INSERTS = {"sqlite": sqlite_insert, "postgresql": pg_insert}


def read_settings(store: Store) -> dict[str, Any]:
    """Every stored value, ``{key: value}``."""
    with store.session() as s:
        rows = s.scalars(select(Setting).where(Setting.key != VERSION_KEY))
        return {r.key: json.loads(r.value) for r in rows}


def read_setting(store: Store, key: str) -> tuple[bool, Any]:
    """``(True, value)`` when a value is stored for ``key``, else ``(False, None)``."""
    with store.session() as s:
        row = s.get(Setting, key)
        return (True, json.loads(row.value)) if row is not None else (False, None)


def write_setting(store: Store, key: str, value: Any, actor: str, *, old_default: Any,
                  secret: bool = False) -> None:
    """Store ``value`` for ``key``, audited (a secret shows as ``***``), and bump the change number."""
    with store.session() as s:
        row = s.get(Setting, key)
        old = json.loads(row.value) if row is not None else old_default
        text = json.dumps(value, ensure_ascii=False)
        if row is None:
            s.add(Setting(key=key, value=text))
        else:
            row.value = text
        shown = (lambda v: "***" if v else "") if secret else (lambda v: v)
        store.audit(s, actor, "setting", key=key, old=shown(old), new=shown(value))
        _bump(s)


def delete_setting(store: Store, key: str, actor: str) -> bool:
    """Forget the stored value of ``key`` (audited); False when none was stored."""
    with store.session() as s:
        row = s.get(Setting, key)
        if row is None:
            return False
        s.delete(row)
        store.audit(s, actor, "setting_reset", key=key)
        _bump(s)
    return True


def settings_version(store: Store) -> int:
    """The change number: it moves on every write or delete, by any process (0 before any)."""
    with store.session() as s:
        value = s.scalar(select(Setting.value).where(Setting.key == VERSION_KEY))
    return int(value) if value is not None else 0


def _bump(s) -> None:
    # Insert-if-missing, then an atomic increment: two processes saving at once both count
    # (a read-then-write could lose one, and a watcher would miss that change).
    insert = _INSERTS[s.get_bind().dialect.name]
    s.execute(insert(Setting).values(key=VERSION_KEY, value="0").on_conflict_do_nothing())
    s.execute(update(Setting).where(Setting.key == VERSION_KEY)
              .values(value=cast(cast(Setting.value, Integer) + 1, Text)))

"""Settings admins change at run time: stored in the ``settings`` table, defaults from daka.toml.

Only the keys in :data:`RUNTIME_KEYS` may change this way; each value is validated with the
config schema and every change is audited. Precedence: a stored value overrides daka.toml and
the environment (:meth:`SettingsService.effective` is the config a terminal runs with);
:meth:`SettingsService.reset` forgets it, and the file's value applies again.

A change made through any :class:`SettingsService` on a store is announced to the callbacks
subscribed on that same store object (:meth:`SettingsService.subscribe`), so a terminal and the
admin in one process share a change at once; another process (a separate ``daka admin serve``)
is seen by the terminal's poll.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

from loguru import logger
from sqlalchemy import select

from app.config import RUNTIME_KEYS, ConfigError, check_setting, with_values

from .models import Setting
from .setup import Store

__all__ = ["RUNTIME_KEYS", "SettingsService"]

# Callbacks per store object (weak: a disposed store takes its subscribers with it).
_subscribers: weakref.WeakKeyDictionary[Store, list[Callable[[str], None]]] = weakref.WeakKeyDictionary()
_subscribers_lock = threading.Lock()


class SettingsService:
    def __init__(self, store: Store, config):
        self.store, self.config = store, config   # config: daka.toml + environment (the defaults)

    def default(self, key: str) -> Any:
        section, name = self._split(key)
        return getattr(getattr(self.config, section), name)

    def get(self, key: str) -> Any:
        self._split(key)
        with self.store.session() as s:
            row = s.get(Setting, key)
        return json.loads(row.value) if row is not None else self.default(key)

    def stored(self) -> dict[str, Any]:
        """The values an admin changed (the others come from the config)."""
        with self.store.session() as s:
            rows = {r.key: json.loads(r.value) for r in s.scalars(select(Setting))}
        return {k: v for k, v in rows.items() if k in RUNTIME_KEYS}

    def all(self) -> dict[str, Any]:
        stored = self.stored()
        return {k: stored.get(k, self.default(k)) for k in RUNTIME_KEYS}

    def effective(self) -> tuple[Any, dict[str, Any]]:
        """The config with the stored values laid over it, and those values (every runtime key).

        A stored value the schema no longer accepts (an older version's range, a time zone
        the system lost) is skipped with a warning: it must not keep the terminal from starting.
        """
        values = {}
        for key, value in self.all().items():
            try:
                values[key] = check_setting(key, value)
            except ConfigError as exc:
                logger.warning("stored setting ignored, the config's value applies: {}", exc)
                values[key] = self.default(key)
        return with_values(self.config, values), values

    def set(self, key: str, value: Any, actor: str) -> Any:
        """Validate and store a value (ConfigError when refused); the stored value."""
        self._split(key)
        value = check_setting(key, value)
        with self.store.session() as s:
            row = s.get(Setting, key)
            old = json.loads(row.value) if row is not None else self.default(key)
            if row is None:
                s.add(Setting(key=key, value=json.dumps(value, ensure_ascii=False)))
            else:
                row.value = json.dumps(value, ensure_ascii=False)
            shown = (lambda v: "***" if v else "") if key == "push.secret" else (lambda v: v)
            self.store.audit(s, actor, "setting", key=key, old=shown(old), new=shown(value))
        self._announce(key)
        return value

    def reset(self, key: str, actor: str) -> None:
        """Forget the stored value: the config file's applies again."""
        self._split(key)
        with self.store.session() as s:
            row = s.get(Setting, key)
            if row is None:
                return
            s.delete(row)
            self.store.audit(s, actor, "setting_reset", key=key)
        self._announce(key)

    # -- change announcements -------------------------------------------------------------------
    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(key)`` after each stored change on this store; returns the unsubscribe."""
        with _subscribers_lock:
            _subscribers.setdefault(self.store, []).append(callback)

        def unsubscribe() -> None:
            with _subscribers_lock:
                callbacks = _subscribers.get(self.store, [])
                if callback in callbacks:
                    callbacks.remove(callback)
        return unsubscribe

    def _announce(self, key: str) -> None:
        with _subscribers_lock:
            callbacks = list(_subscribers.get(self.store, ()))
        for callback in callbacks:
            try:
                callback(key)
            except Exception:   # the change is stored: a subscriber's failure must not undo the save
                logger.exception("applying the setting {} failed", key)

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        if key not in RUNTIME_KEYS:
            raise KeyError(f"{key} cannot be changed at run time")
        section, _, name = key.partition(".")
        return section, name

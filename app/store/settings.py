"""Settings admins change at run time: stored in the ``settings`` table, defaults from daka.toml.

Only the keys in :data:`RUNTIME_KEYS` may change this way; each value is validated with the
config schema and every change is audited.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.config import check_setting

from .models import Setting
from .setup import Store

RUNTIME_KEYS = (
    "device.name",
    "recognition.threshold",
    "recognition.margin",
    "recognition.faceres_threshold",
    "recognition.faceres_margin",
    "recognition.fused_threshold",
    "recognition.fused_margin",
    "attendance.dedupe_seconds",
    "storage.retention_days",
    "push.webhook_url",
    "push.secret",
    # the admin's settings page
    "attendance.confirm_seconds",
    "attendance.flush_seconds",
    "gpio.relay_mode",
    "device.timezone",
    "device.language",
    "ui.sound",
)


class SettingsService:
    def __init__(self, store: Store, config):
        self.store, self.config = store, config

    def default(self, key: str) -> Any:
        section, name = self._split(key)
        return getattr(getattr(self.config, section), name)

    def get(self, key: str) -> Any:
        self._split(key)
        with self.store.session() as s:
            row = s.get(Setting, key)
        return json.loads(row.value) if row is not None else self.default(key)

    def all(self) -> dict[str, Any]:
        with self.store.session() as s:
            stored = {r.key: json.loads(r.value) for r in s.scalars(select(Setting))}
        return {k: stored.get(k, self.default(k)) for k in RUNTIME_KEYS}

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
        return value

    def reset(self, key: str, actor: str) -> None:
        """Forget the stored value: the config file's applies again."""
        self._split(key)
        with self.store.session() as s:
            row = s.get(Setting, key)
            if row is not None:
                s.delete(row)
                self.store.audit(s, actor, "setting_reset", key=key)

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        if key not in RUNTIME_KEYS:
            raise KeyError(f"{key} cannot be changed at run time")
        section, _, name = key.partition(".")
        return section, name

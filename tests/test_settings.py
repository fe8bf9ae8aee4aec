"""Run-time settings: defaults from the config file, validated, stored, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.config import ConfigError
from app.store import AuditEntry
from app.store.settings import RUNTIME_KEYS, SettingsService


def test_defaults_come_from_the_config_then_the_database_wins(store, make_config):
    settings = SettingsService(store, make_config(attendance={"dedupe_seconds": 90}))
    assert settings.get("attendance.dedupe_seconds") == 90
    assert settings.set("attendance.dedupe_seconds", 30, actor="admin:li") == 30
    assert settings.get("attendance.dedupe_seconds") == 30
    assert set(settings.all()) == set(RUNTIME_KEYS)
    settings.reset("attendance.dedupe_seconds", actor="admin:li")
    assert settings.get("attendance.dedupe_seconds") == 90


def test_values_are_validated_and_secrets_not_audited(store, make_config):
    settings = SettingsService(store, make_config())
    with pytest.raises(ConfigError, match="out of range"):
        settings.set("attendance.dedupe_seconds", -1, actor="a")
    with pytest.raises(ConfigError, match="expected an integer"):
        settings.set("storage.retention_days", "400", actor="a")
    with pytest.raises(ConfigError, match="http"):
        settings.set("push.webhook_url", "ftp://x", actor="a")
    with pytest.raises(KeyError):
        settings.set("storage.database_url", "sqlite://", actor="a")
    settings.set("push.secret", "hunter2", actor="a")
    with store.session() as s:
        details = [e.detail for e in s.scalars(select(AuditEntry))]
    assert details and not any("hunter2" in d for d in details)

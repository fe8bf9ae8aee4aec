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


def test_stored_values_override_the_file_and_a_value_no_longer_valid_is_skipped(store, make_config):
    import json

    from app.store import Setting

    config = make_config(attendance={"flush_seconds": 5}, device={"timezone": "Asia/Shanghai"})
    settings = SettingsService(store, config)
    settings.set("attendance.flush_seconds", 9, actor="admin:li")
    effective, values = settings.effective()
    assert effective.attendance.flush_seconds == 9 and values["attendance.flush_seconds"] == 9
    assert effective.device.timezone == "Asia/Shanghai" and effective.admin == config.admin
    assert config.attendance.flush_seconds == 5   # the file's config itself is left alone
    # a row an older version stored, or a zone the system lost: the file's value, not a failed start
    with store.session() as s:
        s.add(Setting(key="device.timezone", value=json.dumps("Mars/Olympus_Mons")))
    effective, values = settings.effective()
    assert effective.device.timezone == values["device.timezone"] == "Asia/Shanghai"
    assert effective.attendance.flush_seconds == 9


def test_changes_are_announced_to_the_subscribers_of_the_same_store(store, make_config):
    config = make_config()
    terminal_side, admin_side = SettingsService(store, config), SettingsService(store, config)
    heard = []

    def broken(_key):
        raise RuntimeError("an applier failed")

    unsubscribe = terminal_side.subscribe(heard.append)
    terminal_side.subscribe(broken)   # must not undo the save nor stop the others
    admin_side.set("attendance.flush_seconds", 9, actor="admin:li")
    admin_side.reset("attendance.flush_seconds", actor="admin:li")
    admin_side.reset("attendance.flush_seconds", actor="admin:li")   # nothing stored: no change
    assert heard == ["attendance.flush_seconds", "attendance.flush_seconds"]
    unsubscribe()
    admin_side.set("device.name", "后门", actor="admin:li")
    assert heard == ["attendance.flush_seconds", "attendance.flush_seconds"]
    assert admin_side.get("device.name") == "后门"

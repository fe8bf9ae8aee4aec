"""Run-time settings: the registry, defaults from the config file, validated, stored, audited,
and every change pushed to subscribers (this process at once, another process by the watcher)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import SCHEMA, ConfigError
from app.services.settings import (
    REGISTRY,
    RESTART,
    RUNTIME_KEYS,
    RegistryError,
    SettingsService,
    register,
    threshold_key,
)
from app.store import AuditEntry
from tests.helpers.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0   # generous: two busy cores must not fail a test that waits for a condition


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
    config = make_config(attendance={"flush_seconds": 5})
    terminal_side, admin_side = SettingsService(store, config), SettingsService(store, config)
    heard = []

    def broken(_config, _changed):
        raise RuntimeError("an applier failed")

    unsubscribe = terminal_side.subscribe(lambda cfg, changed: heard.append((changed, cfg.attendance.flush_seconds)))
    terminal_side.subscribe(broken)   # must not undo the save nor stop the others
    admin_side.set("attendance.flush_seconds", 9, actor="admin:li")
    assert heard == [(("attendance.flush_seconds",), 9)]   # before set() returned
    admin_side.reset("attendance.flush_seconds", actor="admin:li")
    admin_side.reset("attendance.flush_seconds", actor="admin:li")   # nothing stored: no change
    assert heard == [(("attendance.flush_seconds",), 9), (("attendance.flush_seconds",), 5)]
    unsubscribe()
    admin_side.set("device.name", "后门", actor="admin:li")
    assert len(heard) == 2
    assert admin_side.get("device.name") == "后门"


CHILD = """
import sys
from app.config import load_config
from app.instance import Instance
from app.services.settings import SettingsService
from app.store import open_store

instance = Instance(sys.argv[1])
config = load_config(instance)
store = open_store(config, instance, url=sys.argv[2] or None)
try:
    SettingsService(store, config).set(sys.argv[3], int(sys.argv[4]), actor="admin:other-process")
finally:
    store.dispose()
"""


def test_a_change_saved_by_another_process_reaches_the_subscribers(store, make_config, instance, database_url):
    """A separate `daka admin serve` writes the same database: the one watcher pushes the change
    to the subscribers as a change in this process would be (on SQLite and PostgreSQL)."""
    config = make_config(attendance={"flush_seconds": 5})
    settings = SettingsService(store, config)
    heard = []
    unsubscribe = settings.subscribe(lambda cfg, changed: heard.append((changed, cfg.attendance.flush_seconds)))
    settings.watch()
    try:
        subprocess.run([sys.executable, "-c", CHILD, str(instance.root), database_url or "",
                        "attendance.flush_seconds", "9"], cwd=REPO, timeout=120, check=True)
        wait_for(lambda: heard == [(("attendance.flush_seconds",), 9)], timeout=DEADLINE)
        # a second change, from a second store object standing for another process
        from app.store import open_store

        other = open_store(config, instance, url=database_url)
        try:
            SettingsService(other, config).set("attendance.flush_seconds", 11, actor="admin:other")
        finally:
            other.dispose()
        wait_for(lambda: heard[-1:] == [(("attendance.flush_seconds",), 11)], timeout=DEADLINE)
        assert len(heard) == 2
    finally:
        settings.stop_watching()
        unsubscribe()
    assert settings._watcher is None


# -- the registry -------------------------------------------------------------------------------

def test_every_registered_key_is_a_schema_key_with_an_applier_and_texts():
    keys = {f"{s.name}.{k.name}" for s in SCHEMA for k in s.keys}
    assert RUNTIME_KEYS == tuple(REGISTRY) and set(RUNTIME_KEYS) <= keys
    for setting in REGISTRY.values():
        assert setting.apply == RESTART or callable(setting.apply), setting.key
        assert setting.text("zh_CN") and setting.text("en") and setting.help("zh_CN")
        assert setting.help("en") == setting.spec.doc   # the English help is the schema's own doc
    # each embedder's decision rule is declared by the registry, the threshold found from it
    assert [threshold_key(kind) for kind in ("dlib", "faceres", "fused")] == [
        "recognition.threshold", "recognition.faceres_threshold", "recognition.fused_threshold"]


def _declare(key="admin.threads", **changes):
    args = {"group": ("系统", "System"), "label": ("线程", "Threads"), "help_zh": "网页服务线程数。",
            "apply": RESTART, **changes}
    return register(key, **args)


@pytest.mark.parametrize("key, changes, problem", [
    ("admin.threads", {"apply": None}, "no applier"),
    ("admin.threads", {"apply": "later"}, "no applier"),
    ("admin.thread", {}, "not a key of the config schema"),
    ("device.name", {}, "registered twice"),
    ("admin.threads", {"label": ("线程", "")}, "label must be"),
    ("gpio.relay_mode", {}, "registered twice"),
    ("log.level", {"choices": (("INFO", ("信息", "Info")),)}, "label every allowed value"),
    ("admin.threads", {"choices": ((4, ("四", "four")),)}, "schema allows any value"),
])
def test_a_setting_declared_wrongly_is_refused(key, changes, problem):
    before = dict(REGISTRY)
    with pytest.raises(RegistryError, match=problem):
        _declare(key, **changes)
    assert REGISTRY == before


def test_a_restart_setting_is_stored_and_announced_but_applied_by_no_one(store, make_config, monkeypatch):
    from app.services.settings import apply_changes

    monkeypatch.setattr("app.services.settings.REGISTRY", dict(REGISTRY))
    import app.services.settings as registry

    setting = _declare()
    assert not setting.live and setting.input == "number"
    settings = SettingsService(store, make_config(admin={"threads": 8}), registry=registry.REGISTRY)
    heard = []
    settings.subscribe(lambda cfg, changed: heard.append((changed, cfg.admin.threads)))
    settings.set("admin.threads", 4, actor="admin:li")
    assert heard == [(("admin.threads",), 4)]

    class Untouchable:   # a live applier would touch the terminal: none may run for a restart key
        def __getattr__(self, name):
            raise AssertionError(f"applier touched terminal.{name}")
    apply_changes(Untouchable(), settings.effective()[0], ["admin.threads"])


def test_the_change_number_counts_every_save_of_two_writers_at_once(store, make_config, instance, database_url):
    """Two processes saving at the same moment both move the change number (an atomic increment,
    not read-then-write), so a watcher that read between them still sees the second change."""
    import threading

    from app.store import open_store
    from app.store.settings import settings_version

    config = make_config()
    other = open_store(config, instance, url=database_url)
    try:
        start = settings_version(store)
        sides = [SettingsService(store, config), SettingsService(other, config)]
        failures = []

        def save(side, key):
            try:
                for n in range(10):
                    side.set(key, 10 + n, actor="admin:li")
            except Exception as exc:   # reported below: a thread's exception would be lost
                failures.append(exc)
        threads = [threading.Thread(target=save, args=(side, key))
                   for side, key in zip(sides, ("attendance.dedupe_seconds", "storage.retention_days"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert failures == [] and not any(t.is_alive() for t in threads)
        assert settings_version(store) == start + 20
    finally:
        other.dispose()


def test_a_reader_of_the_effective_config_does_not_swallow_a_change(store, make_config, instance, database_url):
    """Between another process's save and the watcher's next look, a page or the kiosk may read
    effective(): the subscribers must still hear of the change."""
    from app.store import open_store

    config = make_config(attendance={"flush_seconds": 5})
    settings = SettingsService(store, config)
    heard = []
    settings.subscribe(lambda cfg, changed: heard.append((changed, cfg.attendance.flush_seconds)))
    other = open_store(config, instance, url=database_url)
    try:
        SettingsService(other, config).set("attendance.flush_seconds", 8, actor="admin:other")
    finally:
        other.dispose()
    assert settings.effective()[0].attendance.flush_seconds == 8 and heard == []
    assert settings.refresh() == ("attendance.flush_seconds",)   # what the watcher does on the change number
    assert heard == [(("attendance.flush_seconds",), 8)]

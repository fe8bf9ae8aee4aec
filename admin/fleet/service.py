"""What the devices page reads and writes on a central store: the terminals (``fleet_devices``,
kept up to date by each terminal's heartbeat) and their setting overrides
(``fleet_device_settings``, which each terminal's mirror lays over the global settings).

An override is checked by the same rules as the global settings page (the registry and the
config schema) and audited in the same transaction as its write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from app.config import check_setting
from app.services.settings import REGISTRY, RuntimeSetting
from app.store import Store

# The database's own clock says how long a terminal has been silent: the heartbeats are written
# with the database's now(), so no admin host's clock skew enters the figure.
_DEVICES = text(
    "SELECT device_id, role_name, name, location, version, heartbeat_at, camera, sensor, pending, "
    "last_punch_at, last_error, enabled, "
    "CAST(FLOOR(EXTRACT(EPOCH FROM (now() - heartbeat_at)) / 60) AS INTEGER) AS silent_min "
    "FROM fleet_devices {where} ORDER BY name, device_id")


@dataclass(frozen=True)
class Device:
    device_id: str
    role_name: str
    name: str
    location: str
    version: str | None
    heartbeat_at: Any
    camera: str | None
    sensor: str | None
    pending: int | None
    last_punch_at: Any
    last_error: str | None
    enabled: bool
    silent_min: int | None   # whole minutes since the last heartbeat; None: never heard of

    def silent(self, after_min: int) -> bool:
        """Silent for more than ``after_min`` minutes, or never heard of (a disabled one is not flagged)."""
        return self.enabled and (self.silent_min is None or self.silent_min > after_min)


def devices(store: Store) -> list[Device]:
    with store.engine.connect() as conn:
        return [Device(**r._mapping) for r in conn.execute(text(_DEVICES.text.format(where="")))]


def device(store: Store, device_id: str) -> Device | None:
    with store.engine.connect() as conn:
        row = conn.execute(text(_DEVICES.text.format(where="WHERE device_id = :d")), {"d": device_id}).first()
    return Device(**row._mapping) if row is not None else None


def overridable() -> dict[str, RuntimeSetting]:
    """The run-time settings a terminal may override: every registered one but the secrets (the
    page shows each override's value, and a secret is never shown back)."""
    return {key: s for key, s in REGISTRY.items() if not s.secret}


def overrides(store: Store, device_id: str) -> dict[str, Any]:
    """key -> value of the terminal's overrides, in registry order (a key no longer registered last)."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT key, value FROM fleet_device_settings WHERE device_id = :d"),
                            {"d": device_id}).all()
    found = {k: json.loads(v) for k, v in rows}
    order = list(REGISTRY)
    return dict(sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


class OverrideRefused(ValueError):
    """A key that may not be overridden (the value's own problem is the schema's ConfigError)."""


def set_override(store: Store, device_id: str, key: str, value: Any, actor: str) -> Any:
    """Check ``value`` as the global settings are checked (ConfigError when refused), store it as
    the terminal's override of ``key``, audit it; the stored (normalised) value."""
    if key not in overridable():
        raise OverrideRefused(key)
    value = check_setting(key, value)
    with store.session() as s:
        old = s.execute(text("SELECT value FROM fleet_device_settings WHERE device_id = :d AND key = :k"),
                        {"d": device_id, "k": key}).scalar()
        s.execute(text("INSERT INTO fleet_device_settings (device_id, key, value) VALUES (:d, :k, :v) "
                       "ON CONFLICT (device_id, key) DO UPDATE SET value = EXCLUDED.value"),
                  {"d": device_id, "k": key, "v": json.dumps(value, ensure_ascii=False)})
        store.audit(s, actor, "device_setting", device=device_id, key=key,
                    old=None if old is None else json.loads(old), new=value)
    return value


def remove_override(store: Store, device_id: str, key: str, actor: str) -> bool:
    """Forget the terminal's override of ``key`` (the global value applies again); audited."""
    with store.session() as s:
        old = s.execute(text("DELETE FROM fleet_device_settings WHERE device_id = :d AND key = :k RETURNING value"),
                        {"d": device_id, "k": key}).scalar()
        if old is None:
            return False
        store.audit(s, actor, "device_setting_reset", device=device_id, key=key, old=json.loads(old))
    return True

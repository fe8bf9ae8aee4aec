"""Which terminal recorded a punch, as the pages and exports name it (issue 20).

A central store (a fleet centre: many terminals write their punches into it) knows each
terminal's display name in ``fleet_devices``; a standalone terminal knows only its own configured
name (设置 → 设备名称). The pages show a name where one is known; the exports show the centre's
name, or the raw device id on a standalone terminal (what its exports always held).
"""

from __future__ import annotations

import datetime as dt

from flask import g, has_request_context
from sqlalchemy import text

from app.attendance import queries
from app.config import resolve_device_id
from app.fleet.central import is_centre

from .context import services


def fleet_names(store) -> dict[str, str]:
    """device id -> display name of every terminal of the centre; {} when the store is not a centre."""
    if not is_centre(store):
        return {}
    with store.engine.connect() as conn:
        return {d: name or d for d, name in conn.execute(text("SELECT device_id, name FROM fleet_devices"))}


def names() -> dict[str, str]:
    """device id -> the centre's display name; {} on a standalone store. Read once per request."""
    if has_request_context() and "daka_device_names" in g:
        return g.daka_device_names
    found = fleet_names(services().store)
    if has_request_context():
        g.daka_device_names = found
    return found


def device_text(device_id) -> str:
    """An export's device cell: the centre's name of the device, else its id."""
    if not device_id:
        return ""
    return names().get(device_id, device_id)


def label(device_id) -> str:
    """A page's device cell: the centre's name; this terminal's configured name for its own id;
    another id as it is."""
    if not device_id:
        return "—"
    known = names().get(device_id)
    if known:
        return known
    svc = services()
    if device_id == resolve_device_id(svc.config):
        return svc.setting("device.name") or device_id
    return device_id


def choices(first: dt.date, last: dt.date, chosen: str = "") -> list[tuple[str, str]]:
    """(device id, label) of the devices a filter offers: the centre's terminals (or, standalone,
    this terminal itself), the devices of the range's punches, and the one chosen (kept even when
    unknown), by label."""
    svc = services()
    fleet = names()
    ids = set(fleet) | set(queries.devices_in_range(svc.store, first, last))
    if not fleet:   # a standalone terminal: itself, even before its first punch
        ids.add(resolve_device_id(svc.config))
    if chosen and "\x00" not in chosen:
        ids.add(chosen)
    return sorted(((d, label(d)) for d in ids), key=lambda x: (x[1], x[0]))

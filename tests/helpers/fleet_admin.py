"""Helpers of the central admin's tests (tests/fleet/test_admin_*.py): what a terminal writes."""

from __future__ import annotations


def heartbeat(centre, terminal, *, minutes_ago: int = 0, pending: int = 0, error: str | None = None) -> None:
    """What a terminal's link writes, as the terminal's own role (its row only: row security);
    ``minutes_ago`` dates the heartbeat back by the database's own clock (no sleeping)."""
    with centre.connect(terminal.url) as c:
        updated = c.execute(
            "UPDATE fleet_devices SET heartbeat_at = now() - make_interval(mins => %s), version = '2.0.1', "
            "camera = 'streaming', sensor = 'ok', pending = %s, last_punch_at = now(), last_error = %s",
            (minutes_ago, pending, error)).rowcount
        assert updated == 1

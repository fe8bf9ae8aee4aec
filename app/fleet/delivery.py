"""The centre's webhook delivery: the central admin delivers every terminal's punches to HR.

In a fleet the central database's trigger queues each terminal's punch in the central outbox
(`push_outbox`) while `push.webhook_url` is set there, and the admin's own punches (make-ups) go to
the same outbox. Terminals of a fleet do not deliver (`app.attendance.push.pushes_here`): they
may not read the webhook's key (`fleet_settings_view` leaves the secrets out), so what they sent
would be unsigned, and HR would get every punch twice. `daka admin serve` on a centre runs this
delivery instead, with the settings stored at the centre (read again each round: a changed URL,
key or interval applies without a restart) and the same signed, ordered, backed-off requests as a
single terminal's (`WebhookPusher`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger
from sqlalchemy.exc import InterfaceError, OperationalError

from app.attendance.push import WebhookPusher
from app.config import resolve_device_id
from app.store import Store

from .central import is_centre

IDLE_S = 30.0   # how often a database that is not (or not yet) a centre is asked again


class CentreDelivery:
    """Delivers the central outbox to the webhook every ``push.poll_seconds`` while push is on.

    ``current_config`` gives the config with the centre's stored settings laid over it (the
    admin's `SettingsService.effective`). A round that fails (the database away, a bug) is logged
    and the next round tries again; nothing is marked delivered that HR did not accept.
    """

    def __init__(self, store: Store, current_config: Callable[[], object]):
        self.store, self.current_config = store, current_config
        self.pusher: WebhookPusher | None = None    # made by the first round (the database may be away now)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0     # rounds that reached a centre

    def run_once(self) -> float:
        """One round: deliver what is due when this database is a centre with push on; the seconds
        until the next round."""
        config = self.current_config()
        if self.pusher is None:
            self.pusher = WebhookPusher(self.store, config.push, device_id=resolve_device_id(config),
                                        timezone=config.device.timezone)
        else:
            self.pusher.configure(config.push, config.device.timezone)
        if not is_centre(self.store):
            return IDLE_S
        self.pusher.deliver()
        self.rounds += 1
        return float(config.push.poll_seconds)

    def _run(self) -> None:
        wait = 0.0
        while not self._halt.wait(wait):
            try:
                wait = self.run_once()
            except (OperationalError, InterfaceError) as exc:   # the next round tries again
                reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
                logger.warning("push: the central database is not reachable ({}); trying again in {:.0f} s",
                               reason, IDLE_S)
                wait = IDLE_S
            except Exception:
                logger.exception("push: a delivery round failed; trying again in {:.0f} s", IDLE_S)
                wait = IDLE_S

    def start(self) -> CentreDelivery:
        self._thread = threading.Thread(target=self._run, name="centre-push", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout)

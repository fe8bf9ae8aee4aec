"""Push to HR: deliver outbox punches to a webhook, signed, in order, with exponential backoff.

Request: ``POST <webhook_url>`` with a JSON body ``{"device_id", "sent_at", "punches": [...]}``
and headers ``X-Daka-Timestamp`` (Unix seconds) and ``X-Daka-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``<timestamp>.<body>`` under the shared secret. A receiver recomputes it and
refuses stale timestamps (replays). Delivery is at least once: a crash after the receiver
answered but before the outbox row was marked resends that batch, so receivers dedupe by the
punch ``uuid``. Any 2xx answer counts as delivered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from loguru import logger
from sqlalchemy import func, select

from app.store import OutboxItem, Punch, Store

from .records import PunchRecord

SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Daka-Signature", "X-Daka-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           now: float | None = None, tolerance: float = 300.0) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_created_at: dt.datetime | None
    last_error: str | None
    next_attempt_at: dt.datetime | None


def pushes_here(config) -> bool:
    """Whether this process delivers its own punches to the webhook: push is on, and the terminal
    is not in a fleet (there the centre delivers every terminal's punches, signed with the key the
    terminals may not read: app/fleet/delivery.py)."""
    return bool(config.push.webhook_url) and not config.fleet.database_url


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class WebhookPusher:
    """``by_centre``: a fleet terminal's pusher, which never delivers (the centre does)."""

    def __init__(self, store: Store, push_cfg, *, device_id: str, timezone: str,
                 clock: Callable[[], dt.datetime] = _utcnow, by_centre: bool = False):
        self.store, self.cfg = store, push_cfg
        self.device_id, self.tz = device_id, ZoneInfo(timezone)
        self.by_centre = by_centre
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.webhook_url) and not self.by_centre

    def configure(self, push_cfg, timezone: str) -> None:
        """Take a changed ``[push]`` section and time zone (run-time settings).

        Not under the delivery lock: a delivery can wait on a slow receiver for its timeout,
        and the admin's save must not. Each is one assignment; a request already built goes out
        with what it was built with, the next one with the new values.
        """
        self.cfg, self.tz = push_cfg, ZoneInfo(timezone)

    def backoff(self, attempts: int) -> float:
        return min(self.cfg.backoff_max_seconds, self.cfg.backoff_base_seconds * 2 ** (attempts - 1))

    def deliver(self) -> int:
        """Send waiting punches, oldest first, until none is due or one request fails."""
        if not self.enabled:
            return 0
        sent = 0
        with self._lock:
            while self.enabled:   # push may be switched off between two batches
                with self.store.session() as s:
                    batch = s.execute(
                        select(OutboxItem, Punch).join(Punch, OutboxItem.punch_id == Punch.id)
                        .where(OutboxItem.delivered_at.is_(None))
                        .order_by(OutboxItem.id).limit(self.cfg.batch)).all()
                    if not batch or batch[0][0].next_attempt_at > self._clock():
                        return sent  # nothing waits, or the head is backing off: keep order
                    ids = [item.id for item, _ in batch]
                    punches = [PunchRecord.from_row(p, self.tz).as_dict() for _, p in batch]
                error = self._post(punches)
                with self.store.session() as s:
                    items = s.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids))).all()
                    now = self._clock()
                    for item in items:
                        if error is None:
                            item.delivered_at = now
                        else:
                            item.attempts += 1
                            item.last_error = error[:500]
                            item.next_attempt_at = now + dt.timedelta(seconds=self.backoff(item.attempts))
                if error is not None:
                    logger.warning("push: {} punches not delivered ({}), retry in {:.1f} s",
                                   len(ids), error, self.backoff(items[0].attempts if items else 1))
                    return sent
                sent += len(ids)
            return sent

    def _post(self, punches: list[dict]) -> str | None:
        cfg = self.cfg   # once: URL and secret of one request belong together (see configure)
        if not cfg.webhook_url:
            return "push switched off"
        body = json.dumps({"device_id": self.device_id, "sent_at": _utcnow().isoformat() + "Z",
                           "punches": punches}, ensure_ascii=False, default=str).encode()
        ts = str(int(time.time()))
        request = urllib.request.Request(cfg.webhook_url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(cfg.secret, ts, body),
            "User-Agent": "daka-terminal",
        })
        try:
            with urllib.request.urlopen(request, timeout=cfg.timeout_seconds) as response:
                response.read()
                return None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return str(getattr(exc, "reason", exc))

    def backlog(self) -> Backlog:
        with self.store.session() as s:
            pending = OutboxItem.delivered_at.is_(None)
            count, oldest, next_at = s.execute(
                select(func.count(), func.min(OutboxItem.created_at), func.min(OutboxItem.next_attempt_at))
                .where(pending)).one()
            error = s.scalars(select(OutboxItem.last_error).where(pending)
                              .order_by(OutboxItem.id).limit(1)).first()
        return Backlog(count, oldest, error, next_at)

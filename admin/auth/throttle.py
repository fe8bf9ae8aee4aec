"""Sign-in throttling per (name typed, client address), kept in the database.

An attempt is counted when it starts, before its password is checked, with a compare-and-swap
on the counter: concurrent attempts each get their own number, so a burst cannot check more
passwords than allowed. The first ``free_attempts`` pass at once; past them each counted attempt
makes the next one wait twice as long (up to ``max_wait``). A success clears the pair.

Nothing is locked: a name typed from one address is slowed down for that address only, so an
attacker's failures do not keep the real user (from another address) out. The name need not
exist: unknown names are throttled the same way, and nothing tells them apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.store import LoginThrottle
from app.store.models import utcnow

FIRST_WAIT_S = 2.0
# Failures older than this are forgotten: a user who mistyped last week starts afresh.
QUIET_RESET = dt.timedelta(hours=24)
# Rows of pairs quiet for that long are deleted when a new pair is counted (names typed by an
# attacker must not grow the table for ever).
_MAX_TRIES = 64
KEY_CHARS = 64


@dataclass(frozen=True)
class Policy:
    free_attempts: int
    max_wait: dt.timedelta

    @classmethod
    def from_config(cls, admin_config) -> Policy:
        return cls(admin_config.login_attempts, dt.timedelta(minutes=admin_config.lockout_minutes))

    def wait_after(self, counted: int) -> dt.timedelta | None:
        """How long after the ``counted``-th attempt the next one must wait."""
        if counted < self.free_attempts:
            return None
        step = counted - self.free_attempts
        if step > 40:  # 2 ** 40 seconds is far past any max_wait
            return self.max_wait
        return min(self.max_wait, dt.timedelta(seconds=FIRST_WAIT_S * 2 ** step))


@dataclass(frozen=True)
class Admission:
    allowed: bool
    counted: int = 0                  # this attempt's number (when allowed)
    retry_after_s: float = 0.0        # when refused


def _key(username: str, address: str) -> tuple[str, str]:
    return username[:KEY_CHARS], address[:KEY_CHARS]


def begin(store, username: str, address: str, policy: Policy, now: dt.datetime | None = None) -> Admission:
    """Count an attempt that starts now, or refuse it while the pair must wait."""
    now = now or utcnow()
    name, addr = _key(username, address)
    where = (LoginThrottle.username == name, LoginThrottle.address == addr)
    for _ in range(_MAX_TRIES):
        with store.session() as s:
            row = s.execute(select(LoginThrottle.failures, LoginThrottle.last_at, LoginThrottle.not_before)
                            .where(*where)).first()
        if row is None:
            try:
                with store.session() as s:
                    s.execute(delete(LoginThrottle).where(LoginThrottle.last_at < now - QUIET_RESET))
                    s.add(LoginThrottle(username=name, address=addr, failures=1, last_at=now,
                                        not_before=_not_before(policy, 1, now)))
            except IntegrityError:
                continue  # another attempt of the pair inserted first: count on its row
            return Admission(True, 1)
        failures, last_at, not_before = row
        if not_before is not None and not_before > now and now - last_at <= QUIET_RESET:
            return Admission(False, retry_after_s=(not_before - now).total_seconds())
        counted = 1 if now - last_at > QUIET_RESET else failures + 1
        with store.session() as s:
            # Compare-and-swap: only the attempt that read this counter value moves it on.
            swapped = s.execute(update(LoginThrottle).where(*where, LoginThrottle.failures == failures)
                                .values(failures=counted, last_at=now,
                                        not_before=_not_before(policy, counted, now))).rowcount
        if swapped == 1:
            return Admission(True, counted)
    # Under a flood of attempts of one pair, refusing is the safe answer.
    return Admission(False, retry_after_s=FIRST_WAIT_S)


def _not_before(policy: Policy, counted: int, now: dt.datetime) -> dt.datetime | None:
    wait = policy.wait_after(counted)
    return None if wait is None else now + wait


def succeeded(store, username: str, address: str) -> None:
    """The pair signed in: its count starts afresh."""
    name, addr = _key(username, address)
    with store.session() as s:
        s.execute(delete(LoginThrottle).where(LoginThrottle.username == name, LoginThrottle.address == addr))

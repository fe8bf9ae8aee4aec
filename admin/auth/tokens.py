"""API bearer tokens: printed once, stored as SHA-256, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from app.store import ApiToken
from app.store.models import ADMIN_ROLES, utcnow

PREFIX = "daka_"
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_used_at is refreshed at most this often
# A verified token is trusted this long without asking the database again. A revocation made in
# this process applies at once; one made by another process (the CLI) within this delay.
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Verified:
    id: int
    name: str
    role: str


_cache: dict[str, tuple[float, Verified]] = {}
_cache_lock = threading.Lock()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create(store, name: str, actor: str, role: str = "admin") -> str:
    name = name.strip()
    if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
        raise ValueError("token name: 1-64 characters, no control characters")
    if role not in ADMIN_ROLES:
        raise ValueError(f"role must be one of {', '.join(ADMIN_ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        row = ApiToken(name=name, token_sha256=_digest(token), prefix=token[:12], role=role, created_by=actor)
        s.add(row)
        s.flush()
        store.audit(s, actor, "create_token", token=row.id, name=name, role=role)
    return token


def verify(store, token: str) -> Verified | None:
    if not token.startswith(PREFIX):
        return None
    digest = _digest(token)
    with _cache_lock:
        hit = _cache.get(digest)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    with store.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
        if row is None or row.revoked_at is not None:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
            row.last_used_at = now
        verified = Verified(row.id, row.name, row.role)
    with _cache_lock:
        _cache[digest] = (time.monotonic(), verified)
    return verified


def revoke(store, token_id: int, actor: str) -> bool:
    with store.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        store.audit(s, actor, "revoke_token", token=token_id, name=row.name)
    with _cache_lock:
        _cache.pop(row.token_sha256, None)
    return True


def revoke_made_by(session, username: str) -> int:
    """Revoke, in the caller's transaction, the tokens an account made (it is being deactivated or
    deleted: it saw them when they were made). Call :func:`forget_cached` after the commit."""
    return session.execute(update(ApiToken).where(ApiToken.created_by == username, ApiToken.revoked_at.is_(None))
                           .values(revoked_at=utcnow())).rowcount


def forget_cached() -> None:
    """Ask the database again for every token (after revocations made in bulk)."""
    with _cache_lock:
        _cache.clear()

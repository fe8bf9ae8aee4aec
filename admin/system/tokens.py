"""API bearer tokens: printed once, stored as SHA-256, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select

from app.store import ApiToken
from app.store.models import ADMIN_ROLES, utcnow

PREFIX = "daka_"
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_used_at is refreshed at most this often


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


def verify(store, token: str) -> ApiToken | None:
    if not token.startswith(PREFIX):
        return None
    with store.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token)))
        if row is None or row.revoked_at is not None:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
            row.last_used_at = now
        return row


def revoke(store, token_id: int, actor: str) -> bool:
    with store.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        store.audit(s, actor, "revoke_token", token=token_id, name=row.name)
        return True

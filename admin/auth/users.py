"""Admin accounts: scrypt password hashes, roles, lockout after repeated failures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.store import AdminUser
from app.store.models import ADMIN_ROLES, utcnow

from ..context import services

MIN_PASSWORD = 8
# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


class UserError(ValueError):
    """A refused account change; ``code`` is a catalogue text (Chinese)."""


@dataclass(frozen=True)
class SignedIn:
    """The Flask-Login user: id plus the epoch that ends every session when it changes."""

    id: int
    username: str
    role: str
    epoch: int
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return f"{self.id}:{self.epoch}"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError("密码至少 8 位")


def any_user(store=None) -> bool:
    store = store or services().store
    with store.session() as s:
        return bool(s.scalar(select(func.count()).select_from(AdminUser)))


def create_user(store, username: str, password: str, role: str, actor: str) -> int:
    username = username.strip()
    if not username or len(username) > 64 or any(ord(c) < 32 for c in username):
        raise UserError("用户名或密码错误")
    if role not in ADMIN_ROLES:
        raise UserError(f"role must be one of {', '.join(ADMIN_ROLES)}")
    check_password(password)
    with store.session() as s:
        if s.scalar(select(AdminUser.id).where(AdminUser.username == username)):
            raise UserError(f"user {username} exists")
        user = AdminUser(username=username, password_hash=hash_password(password), role=role)
        s.add(user)
        s.flush()
        store.audit(s, actor, "create_user", username=username, role=role)
        return user.id


def load(store, user_id: str) -> SignedIn | None:
    try:
        uid, epoch = (int(p) for p in user_id.split(":"))
    except ValueError:
        return None
    with store.session() as s:
        u = s.get(AdminUser, uid)
        if u is None or not u.active or u.session_epoch != epoch:
            return None
        return SignedIn(u.id, u.username, u.role, u.session_epoch)


def authenticate(store, username: str, password: str, *, attempts: int, lockout_minutes: int,
                 now: dt.datetime | None = None) -> tuple[SignedIn | None, str | None]:
    """The signed-in user, or None and the catalogue text of why not."""
    now = now or utcnow()
    with store.session() as s:
        u = s.scalar(select(AdminUser).where(AdminUser.username == username))
        if u is None or not u.active:
            check_password_hash(_DUMMY_HASH, password)
            return None, "用户名或密码错误"
        if u.locked_until is not None and u.locked_until > now:
            return None, "账户已锁定，请稍后再试"
        if not check_password_hash(u.password_hash, password):
            u.failed_logins += 1
            if u.failed_logins >= attempts:
                u.locked_until = now + dt.timedelta(minutes=lockout_minutes)
                u.failed_logins = 0
                store.audit(s, username, "account_locked", minutes=lockout_minutes)
                return None, "账户已锁定，请稍后再试"
            return None, "用户名或密码错误"
        u.failed_logins, u.locked_until, u.last_login_at = 0, None, now
        store.audit(s, username, "login")
        return SignedIn(u.id, u.username, u.role, u.session_epoch), None


def set_password(store, user_id: int, password: str, actor: str) -> None:
    """New password; every open session of that user ends."""
    check_password(password)
    with store.session() as s:
        u = s.get(AdminUser, user_id)
        u.password_hash = hash_password(password)
        u.session_epoch += 1
        store.audit(s, actor, "set_password", username=u.username)

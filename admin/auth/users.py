"""Admin accounts: scrypt password hashes, roles, the first administrator, session nonces,
deactivation (never of the last active administrator)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.store import AdminUser, SetupClaim
from app.store.models import ADMIN_ROLES, utcnow

from ..context import services
from . import tokens

MIN_PASSWORD = 8
# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


class UserError(ValueError):
    """A refused account change; ``code`` is a catalogue text (Chinese)."""


@dataclass(frozen=True)
class SignedIn:
    """The Flask-Login user: id plus the nonce that ends every session when it changes."""

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


def new_nonce() -> int:
    """A fresh session nonce: random, so a restored backup cannot bring an old cookie back."""
    return secrets.randbelow(2**31 - 1) + 1


def _checked_name(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 64 or any(ord(c) < 32 for c in username):
        raise UserError("用户名或密码错误")
    return username


def create_user(store, username: str, password: str, role: str, actor: str) -> int:
    username = _checked_name(username)
    if role not in ADMIN_ROLES:
        raise UserError(f"role must be one of {', '.join(ADMIN_ROLES)}")
    check_password(password)
    with store.session() as s:
        if s.scalar(select(AdminUser.id).where(AdminUser.username == username)):
            raise UserError(f"user {username} exists")
        user = AdminUser(username=username, password_hash=hash_password(password), role=role,
                         session_epoch=new_nonce())
        s.add(user)
        s.flush()
        store.audit(s, actor, "create_user", username=username, role=role)
        return user.id


class SetupDone(UserError):
    """The first administrator exists already."""


def claim_first_admin(store, username: str, password: str, actor: str = "setup") -> int:
    """Create the first administrator, once per database whatever runs at the same moment: the
    claim row's fixed key makes the database refuse a second one."""
    username = _checked_name(username)
    check_password(password)
    password_hash = hash_password(password)
    try:
        with store.session() as s:
            if s.scalar(select(func.count()).select_from(AdminUser)):
                raise SetupDone("已设置过管理员")
            s.add(SetupClaim(id=1, username=username))
            s.flush()
            user = AdminUser(username=username, password_hash=password_hash, role="admin",
                             session_epoch=new_nonce())
            s.add(user)
            s.flush()
            store.audit(s, actor, "create_user", username=username, role="admin", first=True)
            return user.id
    except IntegrityError as exc:
        raise SetupDone("已设置过管理员") from exc


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


def authenticate(store, username: str, password: str, now: dt.datetime | None = None) -> SignedIn | None:
    """The signed-in user, or None: a wrong password, an unknown or a deactivated account all look
    the same (same answer, a password hash checked every time)."""
    now = now or utcnow()
    with store.session() as s:
        u = s.scalar(select(AdminUser).where(AdminUser.username == username))
        if u is None or not u.active:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(u.password_hash, password):
            return None
        u.last_login_at = now
        store.audit(s, username, "login")
        return SignedIn(u.id, u.username, u.role, u.session_epoch)


def end_sessions(store, user_id: int) -> None:
    """A new nonce: every session cookie of the user, copies included, stops working."""
    with store.session() as s:
        s.execute(update(AdminUser).where(AdminUser.id == user_id).values(session_epoch=new_nonce()))


def set_password(store, user_id: int, password: str, actor: str) -> None:
    """New password; every open session of that user ends."""
    check_password(password)
    with store.session() as s:
        u = s.get(AdminUser, user_id)
        if u is None:
            raise UserError("未找到")
        u.password_hash = hash_password(password)
        u.session_epoch = new_nonce()
        store.audit(s, actor, "set_password", username=u.username)


def _lock_active_admins(s) -> None:
    # PostgreSQL: two admins deactivating each other at once wait here in turn, and the second
    # then counts without the first; SQLite runs one writer at a time anyway.
    s.execute(select(AdminUser.id).where(AdminUser.role == "admin", AdminUser.active.is_(True))
              .with_for_update())


def _keeps_an_admin(user_id: int):
    """True for a row whose change leaves another active admin (evaluated inside the UPDATE or
    DELETE itself, so no other writer can slip in between the count and the change)."""
    others = (select(func.count()).select_from(AdminUser)
              .where(AdminUser.role == "admin", AdminUser.active.is_(True), AdminUser.id != user_id)
              .scalar_subquery())
    return or_(AdminUser.role != "admin", AdminUser.active.is_(False), others > 0)


def set_active(store, user_id: int, active: bool, actor: str) -> None:
    """Activate or deactivate an account; a deactivated one cannot sign in, its sessions end and
    the API tokens it made are revoked. Never the last active administrator."""
    with store.session() as s:
        username = s.scalar(select(AdminUser.username).where(AdminUser.id == user_id))
        if username is None:
            raise UserError("未找到")
        if active:
            s.execute(update(AdminUser).where(AdminUser.id == user_id).values(active=True))
        else:
            _lock_active_admins(s)
            changed = s.execute(update(AdminUser).where(AdminUser.id == user_id, _keeps_an_admin(user_id))
                                .values(active=False, session_epoch=new_nonce())).rowcount
            if changed != 1:
                raise UserError("不能停用或删除最后一个管理员")
            revoked = tokens.revoke_made_by(s, username)
        store.audit(s, actor, "activate_user" if active else "deactivate_user", username=username,
                    **({} if active else {"tokens_revoked": revoked}))
    tokens.forget_cached()


def delete_user(store, user_id: int, actor: str) -> None:
    """Delete an account (its sessions end, the API tokens it made are revoked); never the last
    active administrator."""
    with store.session() as s:
        username = s.scalar(select(AdminUser.username).where(AdminUser.id == user_id))
        if username is None:
            raise UserError("未找到")
        _lock_active_admins(s)
        deleted = s.execute(delete(AdminUser).where(AdminUser.id == user_id, _keeps_an_admin(user_id))
                            .execution_options(synchronize_session=False)).rowcount
        if deleted != 1:
            raise UserError("不能停用或删除最后一个管理员")
        revoked = tokens.revoke_made_by(s, username)
        store.audit(s, actor, "delete_user", username=username, tokens_revoked=revoked)
    tokens.forget_cached()

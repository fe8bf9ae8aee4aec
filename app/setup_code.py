"""The one-time code that lets the first administrator be set up from the LAN.

While no admin account exists, anyone who can reach the admin could otherwise claim it. At start
the terminal makes a short random code, keeps it in the instance folder (mode 0600), logs it and
shows it on its idle screen; the admin's ``/setup`` page asks for it. Whoever reads it stands
at the terminal or has a shell on it. The code is removed once an account exists.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from loguru import logger
from sqlalchemy import func, select

from .store import AdminUser

FILE_NAME = "setup_code.txt"
# No 0/O, 1/I/L: read off a small screen and typed on a laptop. 31 ** 10 ~ 2 ** 49.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10


def _path(instance) -> Path:
    return Path(instance.root) / FILE_NAME


def _normalise(code: str) -> str:
    return "".join(c for c in code.upper() if c != "-" and not c.isspace())


def display(code: str) -> str:
    """The code in groups of five, as shown and logged."""
    return f"{code[:5]}-{code[5:]}"


def pending_setup_code(instance) -> str | None:
    """The code waiting to be used on this instance (grouped for display), or None."""
    try:
        code = _normalise(_path(instance).read_text("ascii"))
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return display(code) if len(code) == LENGTH and set(code) <= set(ALPHABET) else None


def ensure_setup_code(store, instance) -> str | None:
    """At start: make (or keep) the code while no account exists, else remove it."""
    with store.session() as s:
        accounts = s.scalar(select(func.count()).select_from(AdminUser))
    if accounts:
        discard(instance)
        return None
    code = pending_setup_code(instance)
    if code is None:
        code = display("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
        path = _path(instance)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(code + "\n")
        os.replace(tmp, path)
    logger.warning("first run: no admin account yet. Open /setup on the admin and enter the setup code {} "
                   "(also on the terminal's screen and in {})", code, _path(instance))
    return code


def matches(instance, typed: str) -> bool:
    """Whether ``typed`` is this instance's pending code (spaces, dashes and case ignored)."""
    code = pending_setup_code(instance)
    if code is None:
        return False
    return hmac.compare_digest(_normalise(code).encode(), _normalise(typed).encode("utf-8", "replace"))


def discard(instance) -> None:
    """The first account exists: the code is spent."""
    _path(instance).unlink(missing_ok=True)

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
import tempfile
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
    except (OSError, UnicodeDecodeError):
        return None
    return display(code) if len(code) == LENGTH and set(code) <= set(ALPHABET) else None


def no_account_yet(store) -> bool:
    """True while no admin account exists (the first run: someone must create the administrator)."""
    with store.session() as s:
        return not s.scalar(select(func.count()).select_from(AdminUser))


def ensure_setup_code(store, instance) -> str | None:
    """At start: make (or keep) the code while no account exists, else remove it."""
    if not no_account_yet(store):
        discard(instance)
        return None
    try:
        code = pending_setup_code(instance) or _write_new_code(instance)
    except OSError as exc:
        logger.error("first run: no admin account yet, and the setup code cannot be written to {} ({}): "
                     "make the first account with `daka admin create-user NAME --role admin`", _path(instance), exc)
        return None
    logger.warning("first run: no admin account yet. Open /setup on the admin and enter the setup code {} "
                   "(also on the terminal's screen and in {})", code, _path(instance))
    return code


def _write_new_code(instance) -> str:
    """A new code, unless another process (the terminal and `daka admin serve` on one instance)
    wrote one first: then that one, so that every process shows the same code."""
    path = _path(instance)
    code = display("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
    fd, tmp = tempfile.mkstemp(prefix=".setup_code-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(code + "\n")
        try:
            os.link(tmp, path)  # whole file or nothing, and never over another process's code
        except FileExistsError:
            existing = pending_setup_code(instance)
            if existing is not None:
                return existing
            os.replace(tmp, path)  # a damaged file
        return code
    finally:
        Path(tmp).unlink(missing_ok=True)


def matches(instance, typed: str) -> bool:
    """Whether ``typed`` is this instance's pending code (spaces, dashes and case ignored)."""
    code = pending_setup_code(instance)
    if code is None:
        return False
    return hmac.compare_digest(_normalise(code).encode(), _normalise(typed).encode("utf-8", "replace"))


def discard(instance) -> None:
    """The first account exists: the code is spent."""
    _path(instance).unlink(missing_ok=True)

"""Who may change attendance rules, leave and reports' settings: the ONE place to widen.

Administrators and the ``hr`` role write (viewers read). Every write route of admin/rules is
wrapped in :func:`rules_writer`.
"""

from __future__ import annotations

import functools

from flask import abort
from flask_login import current_user

WRITER_ROLES = ("admin", "hr")


def may_write() -> bool:
    return bool(current_user.is_authenticated and current_user.role in WRITER_ROLES)


def require_writer() -> None:
    if not may_write():
        abort(403)


def rules_writer(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        require_writer()
        return view(*args, **kwargs)
    return wrapped

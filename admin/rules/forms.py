"""Reading the rules pages' forms: a bad field is a RuleError naming it (shown on the page)."""

from __future__ import annotations

import datetime as dt

from app.attendance.rules import RuleError


def text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def time_of(form, name: str, *, required: bool = True) -> dt.time | None:
    value = text(form, name)
    if not value and not required:
        return None
    try:
        return dt.time.fromisoformat(value).replace(second=0, microsecond=0)
    except ValueError:
        raise RuleError("attendance.error.time", field=name) from None


def date_of(form, name: str, *, required: bool = True) -> dt.date | None:
    value = text(form, name)
    if not value and not required:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RuleError("attendance.error.date", field=name) from None


def minutes_of(form, name: str, *, default: int | None = 0) -> int | None:
    value = text(form, name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise RuleError("attendance.error.number", field=name) from None


def int_of(form, name: str) -> int | None:
    value = text(form, name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise RuleError("attendance.error.number", field=name) from None

"""The ``?page=`` of the admin's lists, read the same way on every page."""

from __future__ import annotations

from flask import abort, request

from .i18n import gettext

# No list comes near this many pages; a bigger number only makes an offset the database cannot hold.
MAX_PAGE = 1_000_000


def page_number() -> int:
    """The requested page, from 1; garbage is page 1; an absurdly large number is a 400."""
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        return 1
    if page > MAX_PAGE:
        abort(400, description=gettext("页码超出范围"))
    return max(1, page)

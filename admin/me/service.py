"""What the staff member's page reads and writes, and who holds it (the link, then the session)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from flask import current_app, session
from sqlalchemy import select

from app.attendance import rules
from app.services.selflink import BadLink, LinkHolder, SelfLinks, open_self_links
from app.store import MakeupRequest, Staff

from ..context import AdminServices, services

SESSION_KEY = "self_service"
SESSION_SECONDS = 600  # the page stays open this long after its link was opened


class OpenedLinks:
    """Nonces of links already opened, kept until the link would have expired anyway: a link opens
    once, so a photo of the QR code taken over someone's shoulder opens nothing afterwards."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, nonce: str, until: float) -> bool:
        with self._lock:
            now = self._clock()
            for old in [n for n, u in self._until.items() if u < now]:
                del self._until[old]
            if nonce in self._until:
                return False
            self._until[nonce] = until
            return True


def clock() -> float:
    """Now, for links, their sessions and the page's month (tests set SELF_SERVICE_CLOCK)."""
    return current_app.config.get("SELF_SERVICE_CLOCK", time.time)()


def now_local(svc: AdminServices) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock(), svc.timezone()).replace(tzinfo=None)


def links() -> SelfLinks:
    ext = current_app.extensions
    if "daka_self_links" not in ext:
        svc = services()
        ext["daka_self_links"] = open_self_links(svc.config, svc.instance, clock=clock)
    return ext["daka_self_links"]


def opened_links() -> OpenedLinks:
    return current_app.extensions.setdefault("daka_self_links_opened", OpenedLinks(clock))


@dataclass(frozen=True)
class Person:
    id: int
    staff_no: str
    name: str
    department: str


def open_link(svc: AdminServices, token: str) -> Person:
    """Check a link, spend it, and make this browser that person's for SESSION_SECONDS."""
    holder: LinkHolder = links().read(token)
    person = _person(svc, holder.staff_id, holder.staff_no)
    if person is None:
        raise BadLink("forged")
    if not opened_links().claim(holder.nonce, holder.issued_at + links().seconds):
        raise BadLink("used")
    session.clear()  # nothing of another identity (an admin's sign-in) rides along
    session[SESSION_KEY] = {"s": person.id, "n": person.staff_no, "until": clock() + SESSION_SECONDS}
    return person


def _person(svc: AdminServices, staff_id: int, staff_no: str) -> Person | None:
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        # bound to the id AND the staff no: a person deleted and their id reused is not them
        if st is None or st.staff_no != staff_no or not st.active:
            return None
        return Person(st.id, st.staff_no, st.name, st.department)


def holder(svc: AdminServices) -> Person | None:
    """The person this browser holds a page for, or None (never opened, or expired)."""
    held = session.get(SESSION_KEY)
    if not isinstance(held, dict) or not isinstance(held.get("until"), (int, float)) or held["until"] < clock():
        session.pop(SESSION_KEY, None)
        return None
    try:
        return _person(svc, int(held["s"]), str(held["n"]))
    except (KeyError, TypeError, ValueError):
        return None


def month_days(svc: AdminServices, person: Person, now: dt.datetime) -> list:
    """This month's days up to today (the rules' DayResults), newest first."""
    today = now.date()
    people = rules.compute_days(svc.store, today.replace(day=1), today, svc.timezone(), staff_ids=[person.id],
                                now=now)
    days = people[0].days if people else []
    return sorted(days, key=lambda d: d.date, reverse=True)


def recent_requests(svc: AdminServices, person: Person, limit: int = 10) -> list[MakeupRequest]:
    with svc.store.session() as s:
        return list(s.scalars(select(MakeupRequest).where(MakeupRequest.staff_id == person.id)
                              .order_by(MakeupRequest.id.desc()).limit(limit)))

"""Self-service links (issue 24): the QR code a staff member scans after a punch opens their own
month on their phone. A link is signed with the instance's own key, names one person (id and
staff no), carries a random nonce so that it opens once, and expires after ``LINK_SECONDS``.
No account, no password: whoever holds a fresh link is that person for ten minutes.

The kiosk makes links (it shows them as a QR code); the admin makes them too (a printed code) and
is the one that reads them. Both find the key in the instance folder.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from app.instance import instance_secret

LINK_SECONDS = 600
KEY_FILE = "selfservice.key"
SALT = "daka.self-service"
PATH = "/me/open/"


class BadLink(ValueError):
    """A link that is forged, altered, for nobody, or expired (``expired``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkHolder:
    staff_id: int
    staff_no: str
    nonce: str
    issued_at: float


def instance_key(root: Path) -> bytes:
    """The per-instance signing key (0600), made on first use; not the admin's session key, so a
    link never doubles as a session cookie."""
    return instance_secret(root, KEY_FILE)


def lan_address() -> str:
    """This machine's address on the LAN: the one its default route leaves from (a UDP socket's
    connect sends nothing), or loopback with no network."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, never reached
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def admin_base_url(admin_config) -> str:
    """Where phones on the factory Wi-Fi reach the admin: ``admin.public_url`` when set (a proxy,
    a fleet's central admin), else this terminal's LAN address and admin port."""
    if admin_config.public_url:
        return admin_config.public_url
    host = admin_config.host
    if host in ("", "0.0.0.0", "::"):
        host = lan_address()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{admin_config.port}"


class SelfLinks:
    """Makes and reads links; ``base_url`` is the admin's address, or a function giving it (asked
    at each link: the terminal's LAN address may change under DHCP)."""

    def __init__(self, secret: bytes, base_url: str | Callable[[], str], *, seconds: int = LINK_SECONDS,
                 clock=time.time):
        self.base_url, self.seconds, self._clock = base_url, seconds, clock
        clock_fn = clock

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock_fn())

        self._serializer = URLSafeTimedSerializer(secret, salt=SALT, signer=_Signer)

    def token(self, staff_id: int, staff_no: str) -> str:
        return self._serializer.dumps({"s": int(staff_id), "n": staff_no, "j": secrets.token_urlsafe(9)})

    def url(self, staff_id: int, staff_no: str) -> str:
        base = self.base_url() if callable(self.base_url) else self.base_url
        return base.rstrip("/") + PATH + self.token(staff_id, staff_no)

    def read(self, token: str) -> LinkHolder:
        """Who the link is for, or :class:`BadLink`."""
        try:
            payload, issued = self._serializer.loads(token, max_age=self.seconds, return_timestamp=True)
        except SignatureExpired:
            raise BadLink("expired") from None
        except BadSignature:
            raise BadLink("forged") from None
        try:
            return LinkHolder(int(payload["s"]), str(payload["n"]), str(payload["j"]), issued.timestamp())
        except (KeyError, TypeError, ValueError):
            raise BadLink("forged") from None


def open_self_links(config, instance, *, clock=time.time) -> SelfLinks:
    """Links to this instance's admin; ``config`` may be a function giving the config in force."""
    current = config if callable(config) else (lambda: config)
    return SelfLinks(instance_key(instance.root), lambda: admin_base_url(current().admin), clock=clock)

"""How a fleet terminal opens a connection to the central database as its own role.

``fleet.database_url`` is a libpq URL (``postgresql://role:pw@a:5432,b:5432/daka?
target_session_attrs=read-write``): several hosts and TLS options are libpq's own, so a failover
needs nothing of ours. The SQLAlchemy spelling ``postgresql+psycopg://`` is accepted too. A
short connect timeout and TCP keep-alives make an unreachable centre an error within seconds
rather than a thread stuck for minutes.
"""

from __future__ import annotations

import re

import psycopg

CONNECT_TIMEOUT_S = 5
# Found dead within about 20 s on a silent network (a cable pulled), not after the kernel's 2 hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 5, "keepalives_count": 3}


class CentreUnreachable(Exception):
    """The central database could not be reached or dropped the connection (try again later)."""


def libpq_url(url: str) -> str:
    """The URL libpq takes: ``postgresql+psycopg://`` and ``postgres://`` become ``postgresql://``."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def connect(url: str, *, autocommit: bool = False, application_name: str = "daka-fleet") -> psycopg.Connection:
    """A connection to the centre; :class:`CentreUnreachable` when it cannot be opened."""
    options = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": application_name, **KEEPALIVES}
    conninfo = libpq_url(url)
    # a value written in the URL wins over our defaults
    present = set(re.findall(r"[?&]([a-z_]+)=", conninfo))
    try:
        return psycopg.connect(conninfo, autocommit=autocommit,
                               **{k: v for k, v in options.items() if k not in present})
    except psycopg.OperationalError as exc:
        raise CentreUnreachable(_short(exc)) from exc


def is_connection_error(exc: BaseException) -> bool:
    """Whether an error means the link to the centre is gone (as opposed to a refusal by it)."""
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, CentreUnreachable))


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def safe_url(url: str) -> str:
    """The URL without its password (for logs and status)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)

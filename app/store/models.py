"""Tables of the terminal: staff, face templates, punches, settings, audit log, push outbox.

Times are stored as naive UTC (SQLite keeps no zone); ``Punch.local_date`` is the terminal's
calendar date at the moment of the punch, so a day's query needs no zone arithmetic.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid as uuid_mod

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    Uuid,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

PUNCH_SOURCES = ("face", "makeup", "manual")
# 64-bit ids on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Department(db.Model):
    """A department HR manages (issue 24): staff point at one by ``Staff.department_id``."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Staff(db.Model):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # The department's name, kept equal to ``department_ref.name`` by every writer: the lists,
    # filters, exports and the JSON API read this column, so they need no join.
    department: Mapped[str] = mapped_column(String(64), default="")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    card_no: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)  # a unique index
    active: Mapped[bool] = mapped_column(default=True)
    # issue 24: no attendance row before the hire date or after the leave date
    hire_date: Mapped[dt.date | None] = mapped_column(Date)
    leave_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # The 16-bit "uid" ZKTeco's pull protocol keys users and punches by: given at insert, never changed.
    zk_uid: Mapped[int] = mapped_column(unique=True)

    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="staff", cascade="all, delete-orphan", passive_deletes=True
    )
    department_ref: Mapped[Department | None] = relationship()


#: The largest uid ZKTeco's protocol carries (an unsigned 16-bit field).
ZK_UID_MAX = 65535


class StoreCounter(db.Model):
    """A number that only grows, kept apart from the rows it numbers. ``zk_uid``: the highest
    ZKTeco uid ever given, so a deleted person's uid is never handed to the next one (an HR system
    that pulled it would file the newcomer's punches under the one who left)."""

    __tablename__ = "store_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigId, default=0)


ZK_UID_COUNTER = "zk_uid"


def _raise_counter(connection, name: str, value: int) -> None:
    table = StoreCounter.__table__
    raised = connection.execute(update(table).where(table.c.name == name, table.c.value < value)
                                .values(value=value)).rowcount
    if not raised and connection.execute(select(table.c.value).where(table.c.name == name)).scalar() is None:
        connection.execute(insert(table).values(name=name, value=value))


def _free_zk_uids(connection, top: int):
    """The uids to give, in order: above the highest ever given, then (once 65,535 is reached:
    tens of thousands of people have come and gone) the gaps."""
    yield from range(top + 1, ZK_UID_MAX + 1)
    used = set(connection.execute(select(Staff.zk_uid)).scalars())
    yield from (uid for uid in range(1, ZK_UID_MAX + 1) if uid not in used)
    yield from itertools.count(max(top, ZK_UID_MAX) + 1)   # more staff than the protocol can number


@event.listens_for(Staff, "before_insert")
def _give_zk_uid(_mapper, connection, target: Staff) -> None:
    # One flush inserts many rows in one statement, so the numbers are handed out per transaction
    # (the transaction object is held, so a later one is never mistaken for it).
    if target.zk_uid is not None:   # given by the caller (a ZKTeco client's set_user): remembered too
        _raise_counter(connection, ZK_UID_COUNTER, target.zk_uid)
        return
    counter = connection.info.get("daka_zk_uid")
    transaction = connection.get_transaction()
    if counter is None or counter[0] is not transaction:
        top = max(connection.execute(select(func.coalesce(func.max(Staff.zk_uid), 0))).scalar_one(),
                  connection.execute(select(StoreCounter.value).where(StoreCounter.name == ZK_UID_COUNTER))
                  .scalar() or 0)
        counter = connection.info["daka_zk_uid"] = (transaction, _free_zk_uids(connection, top))
    target.zk_uid = next(counter[1])
    _raise_counter(connection, ZK_UID_COUNTER, target.zk_uid)


class FaceTemplate(db.Model):
    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    descriptor: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    model_id: Mapped[str] = mapped_column(String(64))
    photo_file: Mapped[str] = mapped_column(String(128))    # relative to the photos folder
    photo_sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    staff: Mapped[Staff] = relationship(back_populates="templates")


class Punch(db.Model):
    __tablename__ = "punches"
    __table_args__ = (
        CheckConstraint(f"source IN {PUNCH_SOURCES!r}", name="source"),
        CheckConstraint("status BETWEEN 0 AND 5", name="status"),
        # Covers the day / week / month lists for all staff: read in order, no table lookups, no sort.
        Index("ix_punches_local_date_time", "local_date", "punched_at", "id", "staff_id", "staff_no",
              "name", "source"),
        Index("ix_punches_staff_punched_at", "staff_id", "punched_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uuid: Mapped[uuid_mod.UUID] = mapped_column(Uuid, unique=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    staff_no: Mapped[str] = mapped_column(String(32))   # snapshot at punch time
    name: Mapped[str] = mapped_column(String(64))       # snapshot at punch time
    punched_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # UTC
    local_date: Mapped[dt.date] = mapped_column(Date)
    device_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="face")
    snapshot_file: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # ZKTeco's punch states, chosen on the confirm card (issue 18): 0 in, 1 out, 2 break out,
    # 3 break in, 4 overtime in, 5 overtime out; 0 when nobody chose.
    status: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class Setting(db.Model):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class AuditEntry(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class OutboxItem(db.Model):
    """One punch waiting to be (or already) delivered to the HR webhook, in id order."""

    __tablename__ = "push_outbox"
    __table_args__ = (Index("ix_push_outbox_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    punch_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("punches.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# -- the admin's tables (users, API tokens, make-up requests) ------------------------------------

# hr (issue 24) sits between the two: staff, schedules, leave, corrections and reports, not the system.
ADMIN_ROLES = ("admin", "hr", "viewer")
MAKEUP_STATES = ("pending", "approved", "rejected")
# A request is a missed punch (补卡) or, asked for from the staff member's phone, a leave.
MAKEUP_KINDS = ("punch", "leave")


class AdminUser(db.Model):
    """A person who signs in to the admin. ``session_epoch`` is the session nonce: a random value
    replaced at logout, password change and deactivation, which ends every session of the user."""

    __tablename__ = "admin_users"
    __table_args__ = (CheckConstraint(f"role IN {ADMIN_ROLES!r}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SetupClaim(db.Model):
    """The one row saying the first administrator was made: its fixed key lets the database, not
    a check in Python, refuse a second first-run set-up made at the same moment."""

    __tablename__ = "setup_claim"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    username: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LoginThrottle(db.Model):
    """Sign-in attempts per (user name typed, client address), counted when an attempt starts;
    past the free attempts each one makes the next wait longer (``not_before``)."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ApiToken(db.Model):
    """A bearer token for the JSON API, stored as its SHA-256 only (shown once when made)."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"role IN {ADMIN_ROLES!r}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell tokens apart
    role: Mapped[str] = mapped_column(String(16), default="admin")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class MakeupRequest(db.Model):
    """补卡: a missed punch asked for; approval turns it into a punch with source ``makeup``."""

    __tablename__ = "makeup_requests"
    __table_args__ = (
        CheckConstraint(f"state IN {MAKEUP_STATES!r}", name="state"),
        CheckConstraint(f"kind IN {MAKEUP_KINDS!r}", name="kind"),
        Index("ix_makeup_requests_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    staff_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    punched_at: Mapped[dt.datetime] = mapped_column(DateTime)  # UTC, the time asked for
    local_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    punch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("punches.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # issue 24: a leave asked for runs local_date .. leave_end, of leave_type
    kind: Mapped[str] = mapped_column(String(16), default="punch", server_default="punch")
    leave_type: Mapped[str | None] = mapped_column(String(32))
    leave_end: Mapped[dt.date | None] = mapped_column(Date)


class AdmsCursor(db.Model):
    """ZKTeco PUSH (ADMS, issue 18): how far one table was acknowledged by the ADMS server.

    ``position`` is the id of the last row the server answered ``OK`` for: a punch id for
    ``ATTLOG``, an audit-log id for ``OPERLOG``. Its own cursor, beside the webhook's outbox, so
    one receiver never holds the other back.
    """

    __tablename__ = "adms_cursors"

    table: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


# -- issue 25: stranger and spoof records ----------------------------------------------------------

FACE_EVENT_KINDS = ("stranger", "spoof")


class FaceEvent(db.Model):
    """A face the terminal refused: not recognised (``stranger``) or refused by liveness (``spoof``),
    once per person in front of the camera, with a snapshot of the face (relative to the
    snapshots folder). No punch is made; the records page lists them."""

    __tablename__ = "face_events"
    __table_args__ = (
        CheckConstraint(f"kind IN {FACE_EVENT_KINDS!r}", name="kind"),
        Index("ix_face_events_local_date_at", "local_date", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)   # UTC
    local_date: Mapped[dt.date] = mapped_column(Date)                # the terminal's date then
    kind: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(64), default="")     # recognition or liveness reason
    similarity: Mapped[float | None] = mapped_column(Float)          # to the closest enrolled person
    candidate_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    snapshot_file: Mapped[str | None] = mapped_column(String(128))


# -- issue 20: a fleet terminal's own bookkeeping (docs/fleet.md) ----------------------------------


class FleetCursor(db.Model):
    """How far a fleet terminal got with the central database, kept in its local store.

    ``changes``: the last central change number the mirror applied (catch-up resumes after it);
    ``punches``: the id of the last local punch the centre committed (the upload resumes after it).
    """

    __tablename__ = "fleet_cursors"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class FleetEnrolment(db.Model):
    """An on-device enrolment waiting to go up to the centre's ``fleet_enrolments`` (queued offline).

    ``descriptors`` is JSON ``{model_id: base64 little-endian float32}``; the row is deleted once
    the centre committed its copy.
    """

    __tablename__ = "fleet_enrolment_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    photo: Mapped[bytes] = mapped_column(LargeBinary)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    descriptors: Mapped[str] = mapped_column(Text)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

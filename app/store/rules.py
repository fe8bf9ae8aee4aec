"""Tables of the attendance rules (issue 24): shifts, schedules and who follows them, company
days, leave and trips. The engine that reads them is :mod:`app.attendance.rules`.

Times of day are naive local times of the terminal's zone. Schedules are assigned to a
department by its *name* (``Staff.department`` is free text today); ``department_id`` is kept
nullable for when departments become rows of their own.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .models import utcnow

SHIFT_KINDS = ("fixed", "flexible")
PUNCH_RULES = ("in", "in_out", "four")
SCHEDULE_KINDS = ("weekly", "rotating")
COMPANY_DAY_KINDS = ("off", "work")
LEAVE_KINDS = ("annual", "sick", "personal", "marriage", "maternity", "bereavement", "compensatory",
               "trip", "other")


class Shift(db.Model):
    """班次. A shift whose end is not after its start crosses midnight: it ends the next day and
    its punches belong to the day it started. ``flexible``: ``required_minutes`` of work anywhere
    between ``start`` and ``end``."""

    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint(f"kind IN {SHIFT_KINDS!r}", name="kind"),
        CheckConstraint(f"punches IN {PUNCH_RULES!r}", name="punches"),
        CheckConstraint("late_grace_min >= 0 AND early_grace_min >= 0 AND break_min >= 0", name="minutes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="fixed")
    start: Mapped[dt.time] = mapped_column(Time)
    end: Mapped[dt.time] = mapped_column(Time)
    punches: Mapped[str] = mapped_column(String(16), default="in_out")
    lunch_start: Mapped[dt.time | None] = mapped_column(Time)   # the "four" rule's break
    lunch_end: Mapped[dt.time | None] = mapped_column(Time)
    late_grace_min: Mapped[int] = mapped_column(Integer, default=0)
    early_grace_min: Mapped[int] = mapped_column(Integer, default=0)
    break_min: Mapped[int] = mapped_column(Integer, default=0)        # deducted from time worked
    overtime_after_min: Mapped[int | None] = mapped_column(Integer)   # None: no overtime counted
    absent_after_min: Mapped[int | None] = mapped_column(Integer)     # late/early beyond it: 旷工
    required_minutes: Mapped[int | None] = mapped_column(Integer)     # flexible shifts
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Schedule(db.Model):
    """排班: a cycle of days, each a shift or rest. ``weekly``: 7 days from Monday, and with
    ``follow_calendar`` public holidays are rest and 调休 working days work; ``rotating``: any
    length, day 0 on ``anchor``."""

    __tablename__ = "schedules"
    __table_args__ = (CheckConstraint(f"kind IN {SCHEDULE_KINDS!r}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="weekly")
    anchor: Mapped[dt.date | None] = mapped_column(Date)
    follow_calendar: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    days: Mapped[list[ScheduleDay]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ScheduleDay.position")


class ScheduleDay(db.Model):
    __tablename__ = "schedule_days"

    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RESTRICT: a shift in use cannot be deleted out from under a schedule.
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id", ondelete="RESTRICT"))

    schedule: Mapped[Schedule] = relationship(back_populates="days")


class ScheduleAssignment(db.Model):
    """Who follows a schedule from ``first`` to ``last`` (open when None): one person (an
    override), a department (by name), or, with neither, everyone (the company default)."""

    __tablename__ = "schedule_assignments"
    __table_args__ = (
        CheckConstraint("staff_id IS NULL OR department IS NULL", name="one_target"),
        Index("ix_schedule_assignments_staff", "staff_id", "first"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    department: Mapped[str | None] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(Integer)  # for departments as rows, later
    first: Mapped[dt.date] = mapped_column(Date)
    last: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CompanyDay(db.Model):
    """A company-specific day off (``off``) or working day (``work``), over the public calendar."""

    __tablename__ = "company_days"
    __table_args__ = (CheckConstraint(f"kind IN {COMPANY_DAY_KINDS!r}", name="kind"),
                      UniqueConstraint("day", name="uq_company_days_day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8), default="off")
    name: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Leave(db.Model):
    """请假/出差: whole days from ``first`` to ``last`` (both included) for one person."""

    __tablename__ = "leaves"
    __table_args__ = (
        CheckConstraint(f"kind IN {LEAVE_KINDS!r}", name="kind"),
        CheckConstraint("last >= first", name="range"),
        Index("ix_leaves_staff_first", "staff_id", "first"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    first: Mapped[dt.date] = mapped_column(Date)
    last: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

"""The database: Flask-SQLAlchemy models, Alembic migrations and a plain-session handle.

``create_store_app(config, instance)`` builds the minimal Flask app that binds the extensions
(the admin's ``create_app`` reuses it); ``open_store`` also migrates to the newest revision and
returns a :class:`Store` whose ``session()`` works outside any Flask context, for services and
scheduler jobs.
"""

from __future__ import annotations

from .extensions import NAMING_CONVENTION, db, migrate
from .models import (AdmsCursor, AdminUser, ApiToken, AuditEntry, Department, FaceEvent, FaceTemplate,
                     LoginThrottle, MakeupRequest, OutboxItem, Punch, Setting, SetupClaim, Staff)
from .models import FleetCursor, FleetEnrolment   # issue 20
from .models import StoreCounter
from .rules import CompanyDay, Leave, Schedule, ScheduleAssignment, ScheduleDay, Shift
from .setup import MIGRATIONS_DIR, Store, create_store_app, database_url, open_store

__all__ = [
    "MIGRATIONS_DIR",
    "NAMING_CONVENTION",
    "AdminUser",
    "AdmsCursor",
    "ApiToken",
    "AuditEntry",
    "CompanyDay",
    "Department",
    "Leave",
    "Schedule",
    "ScheduleAssignment",
    "ScheduleDay",
    "Shift",
    "FaceEvent",
    "FleetCursor",
    "FleetEnrolment",
    "FaceTemplate",
    "LoginThrottle",
    "MakeupRequest",
    "OutboxItem",
    "Punch",
    "Setting",
    "StoreCounter",
    "SetupClaim",
    "Staff",
    "Store",
    "create_store_app",
    "database_url",
    "db",
    "migrate",
    "open_store",
]

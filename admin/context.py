"""What the admin works with: the store, the face library, attendance and the terminal's status."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
import zoneinfo
from collections.abc import Callable

from flask import current_app
from sqlalchemy import func, select

from app.attendance import RetentionService, open_retention
from app.fleet.delivery import CentreDelivery
from app.services.compose import open_library
from app.services.settings import SettingsService
from app.store import OutboxItem, Punch


SETTING_TTL_S = 1.0


class AdminServices:
    def __init__(self, config, instance, store, *, library=None, attendance=None,
                 status_provider: Callable[[], dict] | None = None):
        self.config, self.instance, self.store = config, instance, store
        self._library, self.attendance = library, attendance
        self.status_provider = status_provider
        self.settings = SettingsService(store, config)
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, object]] = {}

    def setting(self, key: str):
        """A run-time setting read at most once a second (pages read a few on every request)."""
        now = time.monotonic()
        hit = self._cached.get(key)
        if hit is not None and now - hit[0] < SETTING_TTL_S:
            return hit[1]
        value = self.settings.get(key)
        self._cached[key] = (now, value)
        return value

    def forget_settings(self) -> None:
        self._cached.clear()

    @property
    def library(self):
        """The live FaceLibrary, or one opened on first use (standalone admin)."""
        with self._lock:
            if self._library is None:
                library = open_library(self.config, self.instance, self.store)
                self._library = library
            return self._library

    @property
    def library_loaded(self) -> bool:
        return self._library is not None

    def start_centre_delivery(self) -> CentreDelivery | None:
        """The standalone admin's webhook delivery on a PostgreSQL store: it acts once the database
        is a fleet's centre (app/fleet/delivery.py). None on SQLite, where the terminal delivers."""
        if self.store.dialect != "postgresql":
            return None
        return CentreDelivery(self.store, lambda: self.settings.effective()[0]).start()

    def retention(self) -> RetentionService:
        """The terminal's retention service, or (standalone) one made by the same recipe."""
        if self.attendance is not None:
            return self.attendance.retention
        return open_retention(self.store, self.instance, days=self.setting("storage.retention_days"))

    def timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.setting("device.timezone"))

    def today(self) -> dt.date:
        return dt.datetime.now(self.timezone()).date()

    def status(self) -> dict:
        """The terminal's status: from the live process when it gave a provider, else the DB's view."""
        out: dict = {"camera": None, "last_recognition_utc": None, "journal_pending": None,
                     "push_pending": None, "disk_free_bytes": shutil.disk_usage(self.instance.root).free}
        if self.status_provider is not None:
            out.update(self.status_provider() or {})
            return out
        with self.store.session() as s:
            out["push_pending"] = s.scalar(select(func.count()).select_from(OutboxItem)
                                           .where(OutboxItem.delivered_at.is_(None)))
            last = s.scalar(select(func.max(Punch.punched_at)).where(Punch.source == "face"))
        out["last_recognition_utc"] = last.replace(tzinfo=dt.UTC).isoformat() if last else None
        if self.attendance is not None:
            out["journal_pending"] = self.attendance.journal.pending_count()
        return out


def services() -> AdminServices:
    return current_app.extensions["daka_admin"]

"""Value types of the clock-in flow: the candidate, the punch record and the result."""

from __future__ import annotations

import datetime as dt
import uuid as uuid_mod
from dataclasses import dataclass, field

from app.i18n import text
from app.store import Punch

NAME_MAX, STAFF_NO_MAX = 64, 32
# ZKTeco's punch states (ATTLOG status), as vendor terminals offer them on their F-keys.
PUNCH_STATES = (0, 1, 2, 3, 4, 5)   # in, out, break out, break in, overtime in, overtime out


@dataclass(frozen=True)
class Candidate:
    """A recognised person the screen asks to confirm."""

    staff_id: int
    staff_no: str
    name: str
    score: float | None = None
    source: str = "face"
    snapshot_jpeg: bytes | None = field(default=None, repr=False)
    status: int = 0              # PUNCH_STATES: chosen on the confirm card, 0 (in) by default


@dataclass(frozen=True)
class PunchRecord:
    uuid: uuid_mod.UUID
    staff_id: int | None
    staff_no: str
    name: str
    punched_at: dt.datetime      # aware, UTC
    local_date: dt.date
    local_time: str              # HH:MM:SS at the terminal
    device_id: str
    score: float | None
    source: str
    snapshot_file: str | None = None
    status: int = 0              # PUNCH_STATES

    def to_journal(self) -> dict:
        return {
            "uuid": str(self.uuid), "staff_id": self.staff_id, "staff_no": self.staff_no,
            "name": self.name, "punched_at": self.punched_at.isoformat(),
            "local_date": self.local_date.isoformat(), "local_time": self.local_time,
            "device_id": self.device_id, "score": self.score, "source": self.source,
            "snapshot_file": self.snapshot_file, "status": self.status,
        }

    @classmethod
    def from_journal(cls, r: dict) -> PunchRecord:
        # journals written before punch states have none: 0 (in), as for a punch nobody chose
        return cls(uuid_mod.UUID(r["uuid"]), r["staff_id"], r["staff_no"], r["name"],
                   dt.datetime.fromisoformat(r["punched_at"]), dt.date.fromisoformat(r["local_date"]),
                   r["local_time"], r["device_id"], r["score"], r["source"], r.get("snapshot_file"),
                   int(r.get("status") or 0))

    @classmethod
    def from_row(cls, p: Punch, tz) -> PunchRecord:
        at = p.punched_at.replace(tzinfo=dt.UTC)
        return cls(p.uuid, p.staff_id, p.staff_no, p.name, at, p.local_date,
                   at.astimezone(tz).strftime("%H:%M:%S"), p.device_id, p.score, p.source,
                   p.snapshot_file, p.status or 0)

    def to_row(self) -> dict:
        """Column values for an INSERT into ``punches``."""
        return {
            "uuid": self.uuid, "staff_id": self.staff_id, "staff_no": self.staff_no,
            "name": self.name, "punched_at": self.punched_at.astimezone(dt.UTC).replace(tzinfo=None),
            "local_date": self.local_date, "device_id": self.device_id, "score": self.score,
            "source": self.source, "snapshot_file": self.snapshot_file, "status": self.status,
        }

    def as_dict(self) -> dict:
        """The JSON form sent to HR and shown by the API."""
        d = self.to_journal()
        d["hhmm"] = self.local_time[:5]
        return d


@dataclass(frozen=True)
class ClockInResult:
    recorded: bool               # False: already clocked in within the dedupe window
    punch: PunchRecord           # the new punch, or the earlier one that made this a repeat
    today: tuple[PunchRecord, ...]  # this person's punches today, oldest first

    def message(self, language: str = "zh_CN") -> str:
        return text("clockin.recorded" if self.recorded else "clockin.already", language,
                    hhmm=self.punch.local_time[:5])

"""Stranger and spoof records: which faces the terminal keeps, and writing them (issue 25).

`FaceEventRecorder.pick(result)` runs on the vision thread and only decides (no I/O): a track
not recognised (``stranger``: its best match stays below the threshold over at least
`STRANGER_OBSERVATIONS` descriptors) or refused by liveness (``spoof``) gives a record, at most
one of each kind per *presence*: faces in view with no pause of `gap_seconds` or more. A person
standing in front of the camera (whom the tracker loses and finds again under new track ids, a
photo whose liveness check restarts with each new track) writes one record, not hundreds. `write`
stores the snapshot and the row; the terminal runs it on its worker thread.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from loguru import logger

from app.store import FaceEvent, Staff, Store
from app.vision.liveness import SPOOF

STRANGER_OBSERVATIONS = 2          # one descriptor alone may be a bad view of someone enrolled
STRANGER_REASONS = ("below_threshold", "empty_gallery")


@dataclass(frozen=True)
class PickedFace:
    kind: str
    track_id: int
    box: tuple
    reason: str
    similarity: float | None
    candidate_staff_id: int | None


class FaceEventRecorder:
    def __init__(self, store: Store, snapshots_dir: Path, *, device_id: str, timezone: str,
                 enabled: bool = True, gap_seconds: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 clock: Callable[[], dt.datetime] | None = None):
        self.store, self.snapshots_dir = store, Path(snapshots_dir)
        self.device_id, self.tz = device_id, ZoneInfo(timezone)
        self._enabled, self.gap_seconds = enabled, gap_seconds
        self._monotonic = monotonic
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._seen: set[int] = set()            # tracks already decided (recorded, or known: never strangers)
        self._last_face: float | None = None    # monotonic time a face was last in view
        self._recorded: set[str] = set()        # the kinds recorded in this presence

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        """Turned on (the admin's setting, live): whoever is in view now is recorded too."""
        if on and not self._enabled:
            self._seen.clear()
            self._recorded.clear()
        self._enabled = on

    def pick(self, result) -> list[PickedFace]:
        """The faces of this frame to record (decides only; safe on the vision thread)."""
        current = {v.track_id for v in result.tracks}
        self._seen &= current   # track ids are never reused: forget the gone ones
        if current:
            now = self._monotonic()
            if self._last_face is None or now - self._last_face >= self.gap_seconds:
                self._recorded.clear()   # nobody in view for a while: a new presence
            self._last_face = now
        picked = []
        for view in result.tracks:
            if view.track_id in self._seen:
                continue
            rec = view.recognition
            if view.liveness is not None and view.liveness.state == SPOOF:
                face = PickedFace("spoof", view.track_id, tuple(view.box), view.liveness.reason,
                                  round(rec.similarity, 4) if rec and rec.candidate_id else None,
                                  rec.candidate_id if rec else None)
            elif rec is None or not view.live:
                continue   # not decided yet (liveness may still refuse a face it recognised)
            elif rec.known:
                self._seen.add(view.track_id)   # a live, known person's track never becomes a stranger
                continue
            elif rec.reason in STRANGER_REASONS and rec.observations >= STRANGER_OBSERVATIONS:
                face = PickedFace("stranger", view.track_id, tuple(view.box), rec.reason,
                                  round(rec.similarity, 4) if rec.candidate_id else None, rec.candidate_id)
            else:
                continue
            self._seen.add(view.track_id)
            if face.kind in self._recorded:
                continue   # the same person found again under a new track, most likely
            self._recorded.add(face.kind)
            picked.append(face)
        if not self.enabled:   # records off (privacy): the log still says a face was refused
            for face in picked:
                logger.info("refused face: {} ({}), track {}, not kept (records are off)", face.kind, face.reason,
                            face.track_id)
            return []
        return picked

    def write(self, jpeg: bytes | None, face: PickedFace) -> int | None:
        """Store the snapshot (a JPEG of the face, `cards.face_snapshot`) and the record (on a worker
        thread); the record's id."""
        now = self._clock().astimezone(dt.UTC)
        local = now.astimezone(self.tz)
        relative = None
        if jpeg:
            relative = f"{local.date().isoformat()}/{face.kind}-{uuid.uuid4().hex}.jpg"
            path = self.snapshots_dir / relative
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(jpeg)
            except OSError as exc:   # a full disk loses the picture, not the record
                path.unlink(missing_ok=True)
                logger.warning("{} snapshot {} not saved ({})", face.kind, relative, exc)
                relative = None
        with self.store.session() as s:
            candidate = face.candidate_staff_id
            if candidate is not None and s.get(Staff, candidate) is None:
                candidate = None   # deleted since the gallery matched it
            row = FaceEvent(at=now.replace(tzinfo=None), local_date=local.date(), kind=face.kind,
                            device_id=self.device_id, track_id=face.track_id, reason=face.reason[:64],
                            similarity=face.similarity, candidate_staff_id=candidate,
                            snapshot_file=relative)
            s.add(row)
            s.flush()
            event_id = row.id
        logger.info("refused face: {} ({}), track {}, record {}", face.kind, face.reason, face.track_id, event_id)
        return event_id

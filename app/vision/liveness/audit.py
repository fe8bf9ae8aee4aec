"""A refused attempt, kept for the admin: a JPEG snapshot and an audit entry (no punch is made).

The store is passed in (anything with `session()` and `audit(session, actor, action, **detail)`,
i.e. `app.store.Store`): vision code does not import the store layer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import cv2
import numpy as np
from loguru import logger

from .decision import SPOOF

ACTION = "liveness_failed"


class LivenessAudit:
    """Log each track's first refusal once: snapshot under `snapshots_dir/<day>/`, audit entry."""

    def __init__(self, store, snapshots_dir: Path, actor: str = "terminal"):
        self.store = store
        self.snapshots_dir = Path(snapshots_dir)
        self.actor = actor
        self._logged: set[int] = set()

    def record(self, frame: np.ndarray, result) -> list[str]:
        """Log the tracks of a `FrameResult` refused on this frame; the snapshot paths written."""
        written = []
        current = {v.track_id for v in result.tracks}
        self._logged &= current   # forget tracks that are gone (ids are never reused)
        for view in result.tracks:
            if view.liveness is None or view.liveness.state != SPOOF or view.track_id in self._logged:
                continue
            self._logged.add(view.track_id)
            relative = self._snapshot(frame, view.box)
            recognition = view.recognition
            with self.store.session() as session:
                self.store.audit(session, self.actor, ACTION, track_id=view.track_id,
                                 reason=view.liveness.reason, liveness=view.liveness.as_dict(),
                                 candidate_staff_id=recognition.candidate_id if recognition else None,
                                 similarity=round(recognition.similarity, 4) if recognition else None,
                                 snapshot=relative, box=[round(v, 1) for v in view.box])
            logger.warning("liveness: track {} refused ({}), snapshot {}", view.track_id, view.liveness.reason, relative)
            written.append(relative)
        return written

    def _snapshot(self, frame: np.ndarray, box) -> str | None:
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return None
        relative = f"{dt.date.today().isoformat()}/liveness-{uuid.uuid4().hex}.jpg"
        path = self.snapshots_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg.tobytes())
        return relative

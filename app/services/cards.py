"""Staff cards: who a recognised face is (name, staff no, photo thumbnail), read from the store.

The vision thread asks for the card of every person it recognises, many times a second: cards
are cached for CARD_CACHE_S so a database read happens only when one is stale. Also the
punch's evidence: a JPEG of the face with some context (`face_snapshot`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select

from app.library.names import photo_path
from app.store import FaceTemplate, Staff

from .events import StaffCard

CARD_CACHE_S = 30.0
PHOTO_SIZE = 120


class StaffCards:
    """The cards of enrolled people over `store`, cached; safe from any thread."""

    def __init__(self, store, photos_dir: Path, *, ttl_s: float = CARD_CACHE_S, clock=time.monotonic):
        self.store = store
        self.photos_dir = photos_dir
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[int, tuple[float, StaffCard | None]] = {}
        self._lock = threading.Lock()

    def card(self, staff_id: int, fresh: bool = False) -> StaffCard | None:
        """Name, staff no and photo of an enrolled person (cached; a database read when stale)."""
        now = self._clock()
        with self._lock:
            hit = self._cache.get(staff_id)
        if hit is not None and now - hit[0] < self.ttl_s and not fresh:
            return hit[1]
        with self.store.session() as s:
            staff = s.get(Staff, staff_id)
            if staff is None:
                card = None
            else:
                photo = s.scalar(select(FaceTemplate.photo_file).where(FaceTemplate.staff_id == staff_id)
                                 .order_by(FaceTemplate.quality.desc()).limit(1))
                card = StaffCard(staff.id, staff.staff_no, staff.name, thumbnail(self.photos_dir, photo))
        with self._lock:
            self._cache[staff_id] = (now, card)
        return card

    def find(self, staff_no: str) -> StaffCard | None:
        """The card of the person with this staff no (read now, not from the cache), or None."""
        with self.store.session() as s:
            staff_id = s.scalar(select(Staff.id).where(Staff.staff_no == staff_no))
        return None if staff_id is None else self.card(staff_id, fresh=True)

    def forget(self, staff_id: int) -> None:
        """Drop a cached card (its photo or name just changed)."""
        with self._lock:
            self._cache.pop(staff_id, None)


def thumbnail(photos_dir, photo_file: str | None) -> np.ndarray | None:
    """A square PHOTO_SIZE BGR thumbnail of a stored photo; None when there is none."""
    path = photo_path(photos_dir, photo_file) if photo_file else None   # never a path out of photos/
    data = np.fromfile(path, np.uint8) if path is not None and path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None else None
    if image is None:
        return None
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[y0:y0 + side, x0:x0 + side], (PHOTO_SIZE, PHOTO_SIZE), interpolation=cv2.INTER_AREA)


def face_snapshot(frame: np.ndarray | None, box) -> bytes | None:
    """A JPEG of the face (with some context) as evidence of the punch."""
    if frame is None:
        return None
    if box is not None:
        h, w = frame.shape[:2]
        l, t, r, b = box
        pad = 0.5 * (r - l)
        x0, y0 = max(0, int(l - pad)), max(0, int(t - pad))
        x1, y1 = min(w, int(r + pad) + 1), min(h, int(b + pad) + 1)
        if x1 > x0 and y1 > y0:
            frame = frame[y0:y1, x0:x0 + (x1 - x0)]
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else None

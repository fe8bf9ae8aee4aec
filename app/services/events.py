"""What the terminal tells its clients (the kiosk window, benches): cards and vision updates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StaffCard:
    """What the confirm card shows about a person (looked up off the UI thread)."""

    staff_id: int
    staff_no: str
    name: str
    photo: np.ndarray | None = field(default=None, repr=False, compare=False)  # BGR thumbnail


@dataclass(frozen=True)
class VisionUpdate:
    """One vision result with the cards of the people it names."""

    result: object                      # app.vision.pipeline.FrameResult
    cards: dict[int, StaffCard]

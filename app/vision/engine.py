"""The networks a process loads once, and the one path from face views to quality and descriptors.

`VisionParts` holds the 5-point landmark model and the configured embedder (its descriptor
networks); `app.services.compose.open_vision` builds it once per process and model set, and the
pipeline and the face library both use it. `judge_views` (chips and quality) and
`describe_views` (descriptors) are the steps the pipeline runs on every tracked face;
`describe_still` runs them on the one face of a still image (an enrolment photo or a captured
frame), so what enrolment accepts and what it stores cannot drift from what recognition does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from app import native

from .embedders import Embedding, open_embedder
from .quality import Quality, QualityThresholds, assess

LANDMARKS = "shape_predictor_5_face_landmarks"
# Larger still images are scaled down before detection: faster, the same faces.
MAX_SIDE = 1600


@dataclass(eq=False)
class VisionParts:
    """The landmark model and the embedder of one process (thread-safe: both may be shared).

    The HOG detector is not part of it: it is built in (no file, nothing to load) and serialises
    its callers, so each user keeps its own and a large enrolment photo never holds up the
    camera's detection.
    """

    landmarks: object   # native.LandmarkModel
    embedder: object    # app.vision.embedders: DlibEmbedder, FaceresEmbedder or FusedEmbedder

    @classmethod
    def load(cls, models, vision) -> VisionParts:
        """Load the landmark model and the embedder `[vision] embedder` names."""
        return cls(native.LandmarkModel(str(models.path(LANDMARKS))), open_embedder(models, vision))


def judge_views(frame: np.ndarray, boxes: Sequence, landmarks: np.ndarray, embedder,
                limits: QualityThresholds) -> tuple[np.ndarray, list[Quality]]:
    """The embedder's aligned chips of n faces and the quality of each view (judged on its chip)."""
    chips = embedder.chips(frame, landmarks)
    return chips, [assess(frame.shape, box, shape, chip, limits) for box, shape, chip in zip(boxes, landmarks, chips)]


def describe_views(frame: np.ndarray, landmarks: np.ndarray, embedder) -> tuple[Embedding, np.ndarray]:
    """Every model's unit vectors of n faces (one batch each) and the gallery vectors made of them."""
    described = embedder.describe(frame, landmarks)
    return described, embedder.combine(described.parts)


class Unusable(Exception):
    """A still image without exactly one face good enough to describe; `reason` is a quality or
    detection code (no_face, several_faces, app.vision.quality.REASONS)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class StillFace:
    """The one face of a still image, described."""

    box: np.ndarray                  # left, top, right, bottom in the (scaled) image
    landmarks: np.ndarray            # (5, 2)
    quality: Quality
    vector: np.ndarray               # the gallery vector (the embedder's combination of `parts`)
    parts: dict[str, np.ndarray]     # template kind -> float32 unit vector, one per model
    attributes: object | None = None


def describe_still(image: np.ndarray, detector, parts: VisionParts, limits: QualityThresholds, *,
                   min_face: int, threads: int = 1, max_side: int = MAX_SIDE) -> StillFace:
    """Detect, judge and describe the one face of a BGR still image, or raise :class:`Unusable`.

    Faces down to `min_face` px are looked for (smaller than the quality limit, so that a small
    face is refused as too small rather than not found).
    """
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.ascontiguousarray(image)
    boxes, _, _ = detector.detect(frame, downscale=0.0, upsample=0, min_face=min_face, threads=threads)
    if len(boxes) == 0:
        raise Unusable("no_face")
    if len(boxes) > 1:
        raise Unusable("several_faces", f"{len(boxes)} faces")
    landmarks = parts.landmarks.predict(frame, boxes)
    _, (quality,) = judge_views(frame, boxes, landmarks, parts.embedder, limits)
    if not quality.ok:
        raise Unusable(quality.reason, f"face {quality.face_px:.0f} px, brightness {quality.brightness:.0f}, "
                                       f"sharpness {quality.sharpness:.0f}")
    described, vectors = describe_views(frame, landmarks, parts.embedder)
    return StillFace(boxes[0], landmarks[0], quality, np.asarray(vectors[0], dtype="<f4"),
                     {k: np.asarray(v[0], dtype="<f4") for k, v in described.parts.items()},
                     described.attributes[0] if described.attributes else None)

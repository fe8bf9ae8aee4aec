"""The face engine: detection, landmarks, aligned chips and descriptors for one frame.

A thin composition of the native core and a descriptor backend; the pipeline (tracking,
recognise-once-per-track, quality, decisions) is built on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import native

from .descriptors import open_descriptor


@dataclass
class Face:
    box: np.ndarray        # left, top, right, bottom (inclusive), frame pixels
    score: float           # HOG confidence
    landmarks: np.ndarray  # (5, 2) x, y
    descriptor: np.ndarray | None = None

    def as_dict(self) -> dict:
        return {
            "box": [int(v) for v in self.box],
            "score": round(float(self.score), 3),
            "landmarks": self.landmarks.round(1).tolist(),
            "descriptor_norm": None if self.descriptor is None else round(float(np.linalg.norm(self.descriptor)), 4),
        }


class FaceEngine:
    def __init__(self, models, vision, descriptor=None):
        self.models = models
        self.vision = vision
        self._embedder = None
        self.detector = native.FaceDetector()
        self.landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
        self.descriptor = descriptor or open_descriptor(
            models, backend=vision.descriptor_backend, threads=vision.descriptor_threads
        )

    @property
    def embedder(self):
        """The configured embedder (`[vision] embedder`: dlib, faceres or fused), made on first use."""
        if self._embedder is None:
            from .embedders import open_embedder

            self._embedder = open_embedder(self.models, self.vision)
        return self._embedder

    def detect(self, frame: np.ndarray):
        """Boxes (n, 4), scores (n,) at the configured scale and minimum face size."""
        boxes, scores, _ = self.detector.detect(
            frame,
            downscale=self.vision.detect_downscale,
            upsample=self.vision.detect_upsample,
            min_face=self.vision.min_face_px,
            threads=self.vision.detect_threads,
        )
        return boxes, scores

    def analyse(self, frame: np.ndarray, describe: bool = True) -> list[Face]:
        boxes, scores = self.detect(frame)
        if len(boxes) == 0:
            return []
        shapes = self.landmarks.predict(frame, boxes)
        descriptors = self.descriptor.compute(native.extract_chips(frame, shapes)) if describe else None
        return [
            Face(boxes[i], float(scores[i]), shapes[i], None if descriptors is None else descriptors[i])
            for i in range(len(boxes))
        ]

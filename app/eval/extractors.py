"""Describe one photo: the terminal's own engine, or the face_recognition library as a baseline.

Both take the face nearest the image centre (LFW centres the labelled person) and, when no
face is detected, fall back to a centred box of LFW's usual face size (counted as a detection
failure either way).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app import native

# LFW's face (deep-funneled, 250x250) sits around the centre, about 100-120 px wide: the
# detector's median box for it is this (left, top, right, bottom) as a fraction of the image.
CENTRE_BOX = (0.31, 0.36, 0.72, 0.76)
# When the first pass finds nothing: one more upsampling, then also a lower HOG threshold.
RETRIES = ((1, 0.0), (1, -0.3), (2, -0.3))


def read_bgr(path: Path) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"not an image: {path}")
    return image


def central(boxes: np.ndarray, shape) -> int:
    """Index of the box whose centre is nearest the image centre."""
    h, w = shape[:2]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 - w / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 - h / 2
    return int(np.argmin(cx * cx + cy * cy))


def centre_box(shape) -> np.ndarray:
    h, w = shape[:2]
    l, t, r, b = CENTRE_BOX
    return np.array([[l * w, t * h, r * w, b * h]], np.float64)


class EngineExtractor:
    """The terminal's detection, landmarks, alignment and embedder, at evaluation settings."""

    metric = "cosine"

    def __init__(self, models, embedder, upsample: int = 1, min_face: int = 0, detect_threads: int = 1):
        self.detector = native.FaceDetector()
        self.landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
        self.embedder = embedder
        self.upsample, self.min_face, self.detect_threads = upsample, min_face, detect_threads
        # Each model's vector is kept apart (concatenated in `embedder.kinds` order): one pass over
        # the photos evaluates each model alone and any fusion of them.
        # The fusion weight is not part of the key: the parts do not depend on it.
        members = getattr(embedder, "members", (embedder,))
        self.model_id = "+".join(m.model_id for m in members) + "/parts"
        self.settings = f"hog upsample={upsample} min_face={min_face} retries={RETRIES} fallback=centre{CENTRE_BOX}"

    def find_face(self, image: np.ndarray) -> tuple[np.ndarray, str]:
        """The central face box (1, 4) and how it was found: "detected", "retry" or "centre"."""
        passes = [(self.upsample, 0.0)] + [(self.upsample + up, adj) for up, adj in RETRIES]
        for attempt, (upsample, adjust) in enumerate(passes):
            boxes, _, _ = self.detector.detect(image, downscale=1.0, upsample=upsample, min_face=self.min_face,
                                               adjust_threshold=adjust, threads=self.detect_threads)
            if len(boxes):
                return boxes[[central(boxes, image.shape)]], "detected" if attempt == 0 else "retry"
        return centre_box(image.shape), "centre"

    def describe_image(self, image: np.ndarray) -> tuple[np.ndarray, str]:
        box, how = self.find_face(image)
        shapes = self.landmarks.predict(image, box)
        parts = self.embedder.describe(image, shapes).parts
        return np.concatenate([parts[k][0] for k in self.embedder.kinds]), how

    def split_parts(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """The per-model columns of vectors described by this extractor."""
        out, start = {}, 0
        for kind, member in zip(self.embedder.kinds, getattr(self.embedder, "members", (self.embedder,))):
            out[kind] = vectors[:, start:start + member.dim]
            start += member.dim
        return out

    def describe_file(self, path: Path) -> tuple[np.ndarray, str]:
        return self.describe_image(read_bgr(path))


class FaceRecognitionExtractor:
    """The face_recognition 1.3 library used the way its README does (HOG, 1 upsample, Euclidean)."""

    metric = "euclidean"
    threshold = 0.6  # the library's default tolerance

    def __init__(self):
        try:
            import face_recognition  # lazy: the optional baseline library (test extra), refused clearly below
        except ImportError as exc:
            raise RuntimeError(
                "the baseline needs the face_recognition library: "
                "pip install --no-deps face_recognition==1.3.0") from exc
        self.fr = face_recognition
        self.model_id = "face_recognition-1.3.0"
        self.settings = "face_locations(img) hog upsample=1; face_encodings(num_jitters=1) fallback=centre"

    def describe_file(self, path: Path) -> tuple[np.ndarray, str]:
        rgb = self.fr.load_image_file(str(path))
        locations = self.fr.face_locations(rgb)
        found = len(locations) > 0
        if found:
            boxes = np.array([[l, t, r, b] for (t, r, b, l) in locations], np.float64)
            l, t, r, b = boxes[central(boxes, rgb.shape)]
        else:
            l, t, r, b = centre_box(rgb.shape)[0]
        location = (int(t), int(r), int(b), int(l))
        return np.asarray(self.fr.face_encodings(rgb, [location])[0], np.float32), "detected" if found else "centre"

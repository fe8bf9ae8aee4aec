"""Fixtures of the vision tests: the landmark model and embedder, enrolment vectors of two photos
(helpers: tests/helpers/vision_scenes.py)."""

from __future__ import annotations

import pytest

from app import native
from app.vision.descriptors import OnnxDescriptor
from app.vision.embedders import DlibEmbedder


@pytest.fixture(scope="module")
def parts(models):
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    embedder = DlibEmbedder(OnnxDescriptor(models.onnx), flip=True)
    return landmarks, embedder


@pytest.fixture(scope="module")
def gallery_vectors(frames, parts):
    """Enrolment vectors of obama.jpg and biden.jpg through the same embedder."""
    landmarks, embedder = parts
    detector = native.FaceDetector()
    out = {}
    for name in ("obama.jpg", "biden.jpg"):
        boxes, _, _ = detector.detect(frames[name], downscale=0, min_face=80)
        out[name] = embedder.embed(frames[name], landmarks.predict(frames[name], boxes[:1]))[0]
    return out

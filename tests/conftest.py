"""Shared fixtures: verified models, registry face photos, decoded frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def models():
    from app.models import resolve

    return resolve(None, verify=True, require_derived=True)


@pytest.fixture(scope="session")
def photos():
    """The face_recognition 1.3.0 sdist's test photos (fetched from PyPI once, cached)."""
    from app.devdata import registry_face_images

    return registry_face_images()


@pytest.fixture(scope="session")
def frames(photos):
    """Decoded BGR frames of the photos that show one frontal face."""
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        img = cv2.imdecode(np.fromfile(photos[name], np.uint8), cv2.IMREAD_COLOR)
        assert img is not None, name
        out[name] = img
    return out

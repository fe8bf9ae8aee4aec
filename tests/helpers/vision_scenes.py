"""Scenes for the vision tests: a registry photo's face placed in a frame, a two-person gallery."""

from __future__ import annotations

import cv2
import numpy as np

from app.bench.clip import WalkUpClip, background
from app.vision.decision import DecisionRule
from app.vision.gallery import FaceGallery

OBAMA, BIDEN = 1, 2
RULE = DecisionRule(threshold=0.948, margin=0.01, min_observations=2)


def make_gallery(gallery_vectors) -> FaceGallery:
    gallery = FaceGallery()
    gallery.add(10, OBAMA, gallery_vectors["obama.jpg"])
    gallery.add(20, BIDEN, gallery_vectors["biden.jpg"])
    return gallery


def place(actor, width=640, height=480, centre=(320, 230), face_px=150, base=None) -> np.ndarray:
    """A frame with the actor's face `face_px` wide centred at `centre`."""
    clip = WalkUpClip([actor], width, height)
    out = (background(width, height) if base is None else base).copy()
    image, mask = clip._cutout(actor)
    scale = face_px / actor.face_width
    cx, cy = actor.face_centre
    m = np.array([[scale, 0, centre[0] - cx * scale], [0, scale, centre[1] - cy * scale]])
    warped = cv2.warpAffine(image, m, (width, height))
    alpha = cv2.warpAffine(mask, m, (width, height))[..., None]
    return (out * (1 - alpha) + warped * alpha).astype(np.uint8)

"""Face quality: is this view good enough to recognise (or to enrol)?

Checks, in the order a person can fix them: fully inside the frame, large enough, facing the
camera (pose from the 5 landmarks), lit (brightness and contrast of the aligned chip), sharp
(variance of the chip's Laplacian). Each rejection has a reason code and a short message the
screen shows in Chinese or English. `score` ranks views of one track (higher is better).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.i18n import text

# The reason codes, in the order checked; each one's text is ``quality.<code>`` in app/i18n.
REASONS = ("partial", "too_small", "not_frontal", "too_dark", "too_bright", "blurry")


@dataclass(frozen=True)
class QualityThresholds:
    min_face_px: int = 100        # eye-to-eye distance x 2.5 approximates the face width
    edge_margin_px: int = 0       # the face box must lie this far inside the frame
    max_yaw: float = 0.30         # nose offset along the eye line / eye distance
    min_pitch: float = 0.45       # nose drop below the eye line / eye distance
    max_pitch: float = 1.20
    max_roll_deg: float = 25.0
    min_brightness: float = 50.0  # mean grey level of the chip's centre
    max_brightness: float = 215.0
    min_contrast: float = 18.0    # grey level standard deviation of the chip
    min_sharpness: float = 25.0   # variance of the Laplacian of the chip (blur gives < 12)


@dataclass(frozen=True)
class Quality:
    ok: bool
    reason: str | None
    score: float
    face_px: float
    inside: bool
    yaw: float
    pitch: float
    roll_deg: float
    brightness: float
    contrast: float
    sharpness: float

    def message(self, language: str = "zh_CN") -> str:
        if self.reason is None:
            return ""
        return text(f"quality.{self.reason}", language)


def pose_from_landmarks(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(eye distance px, yaw ratio, pitch ratio, roll degrees) from dlib's 5 points."""
    p = np.asarray(landmarks, dtype=np.float64)
    eye_right_img = p[0:2].mean(axis=0)  # points 0-1: the eye on the image's right
    eye_left_img = p[2:4].mean(axis=0)   # points 2-3: the eye on the image's left
    axis = eye_right_img - eye_left_img
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return 0.0, 0.0, 0.0, 0.0
    along = axis / distance
    normal = np.array([-along[1], along[0]])  # points down the face when upright
    offset = p[4] - (eye_right_img + eye_left_img) / 2
    yaw = float(offset @ along) / distance
    pitch = float(offset @ normal) / distance
    roll = math.degrees(math.atan2(axis[1], axis[0]))
    return distance, yaw, pitch, roll


def chip_measures(chip: np.ndarray) -> tuple[float, float, float]:
    """(brightness, contrast, sharpness) of an aligned BGR chip."""
    grey = cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    centre = grey[h // 5: h - h // 5, w // 5: w - w // 5]
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return float(centre.mean()), float(grey.std()), sharpness


def assess(frame_shape, box, landmarks, chip: np.ndarray, limits: QualityThresholds | None = None) -> Quality:
    """Judge one face view. `box` is left, top, right, bottom (inclusive) in frame pixels."""
    t = limits or QualityThresholds()
    height, width = frame_shape[:2]
    left, top, right, bottom = (float(v) for v in box)
    inside = (left >= t.edge_margin_px and top >= t.edge_margin_px
              and right <= width - 1 - t.edge_margin_px and bottom <= height - 1 - t.edge_margin_px)
    eye_distance, yaw, pitch, roll = pose_from_landmarks(landmarks)
    face_px = max(right - left + 1, 2.5 * eye_distance)
    brightness, contrast, sharpness = chip_measures(chip)

    reason = None
    if not inside:
        reason = "partial"
    elif face_px < t.min_face_px:
        reason = "too_small"
    elif abs(yaw) > t.max_yaw or not t.min_pitch <= pitch <= t.max_pitch or abs(roll) > t.max_roll_deg:
        reason = "not_frontal"
    elif brightness < t.min_brightness or (contrast < t.min_contrast and brightness < 128):
        reason = "too_dark"
    elif brightness > t.max_brightness or contrast < t.min_contrast:
        reason = "too_bright"
    elif sharpness < t.min_sharpness:
        reason = "blurry"

    # Each factor is 1 for a comfortably good view and falls towards 0 as it degrades.
    size_f = min(1.0, face_px / (2.0 * t.min_face_px))
    pose_f = max(0.0, 1.0 - abs(yaw) / (2 * t.max_yaw)) * max(0.0, 1.0 - abs(roll) / (2 * t.max_roll_deg))
    light_f = max(0.0, 1.0 - abs(brightness - 128.0) / 128.0)
    sharp_f = min(1.0, sharpness / (4.0 * t.min_sharpness))
    score = float(size_f * pose_f * light_f * sharp_f) if inside else 0.0
    return Quality(reason is None, reason, score, face_px, inside, yaw, pitch, roll, brightness, contrast, sharpness)

"""The camera as a pinhole: how many pixels a real face's eye-to-eye distance spans at a distance.

The seed's camera is an IMX219 module with a 2.96 mm lens and a 77° diagonal field of view; the
focal length in pixels follows from the field of view and the frame size (a frame scaled from the
sensor keeps the field of view). Modules differ (lens tolerance, a cropped sensor mode), so the
focal length can be calibrated per device: a person stands at a TOF-measured distance, and
`calibrate_focal_px` turns the eye distance seen into the focal length (`[liveness] focal_px`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

IMX219_DIAGONAL_FOV_DEG = 77.0
# Adult inter-pupillary distance: mean ~63 mm, 5th-95th percentile ~55-71 mm (both sexes). The
# 5-point model's eye centres (mean of the two corners of each eye) sit close to the pupils.
EYE_DISTANCE_MM = 63.0


def eye_distance_px(landmarks: np.ndarray) -> np.ndarray | float:
    """Eye-centre distance in pixels of one (5, 2) or many (n, 5, 2) landmark sets."""
    p = np.asarray(landmarks, np.float64)
    one = p.ndim == 2
    p = p.reshape(-1, 5, 2)
    d = np.hypot(*(p[:, 0:2].mean(axis=1) - p[:, 2:4].mean(axis=1)).T)
    return float(d[0]) if one else d


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera: focal length in pixels for frames `width` x `height`."""

    focal_px: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, diagonal_fov_deg: float = IMX219_DIAGONAL_FOV_DEG) -> "CameraModel":
        half_diagonal = 0.5 * math.hypot(width, height)
        return cls(half_diagonal / math.tan(math.radians(diagonal_fov_deg) / 2), width, height)

    @classmethod
    def for_frame(cls, width: int, height: int, focal_px_at_640: float = 0.0,
                  diagonal_fov_deg: float = IMX219_DIAGONAL_FOV_DEG) -> "CameraModel":
        """The camera for frames of this size; a calibrated focal length is given for 640-wide frames."""
        if focal_px_at_640 > 0:
            return cls(focal_px_at_640 * width / 640.0, width, height)
        return cls.from_fov(width, height, diagonal_fov_deg)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.focal_px, 0, self.width / 2], [0, self.focal_px, self.height / 2], [0, 0, 1]])

    def eye_px_at(self, distance_mm: float, eye_mm: float = EYE_DISTANCE_MM) -> float:
        """Eye distance in pixels of a frontal face `distance_mm` away."""
        return self.focal_px * eye_mm / distance_mm

    def eye_mm_seen(self, eye_px: float, distance_mm: float) -> float:
        """The physical eye distance that explains `eye_px` pixels at `distance_mm`."""
        return eye_px * distance_mm / self.focal_px


def calibrate_focal_px(eye_px: list[float], distance_mm: list[float], width: int,
                       eye_mm: float = EYE_DISTANCE_MM) -> float:
    """Focal length (pixels, for 640-wide frames) from frames of a person at TOF-measured distances.

    The person's own eye distance is assumed `eye_mm` (measure it with a ruler for a better
    calibration); the median over the frames resists a few bad landmark fits.
    """
    e = np.asarray(eye_px, np.float64)
    d = np.asarray(distance_mm, np.float64)
    if len(e) == 0 or len(e) != len(d) or np.any(e <= 0) or np.any(d <= 0):
        raise ValueError("need matching, positive eye distances (px) and TOF distances (mm)")
    return float(np.median(e * d / eye_mm)) * 640.0 / width

"""Liveness cues from the signals the terminal has: a TOF distance and the 5 landmarks over frames.

**Scale vs distance.** A real adult's eye distance is 55-71 mm; at the TOF distance the camera's
focal length predicts how many pixels that spans. A phone, a photo print or a screen held in
front of the sensor shows a face of another physical size at the distance the sensor measures
(the sensor sees the picture, not the person behind it), so the eye distance it implies does not
fit a person. Only a life-size picture passes this cue.

**Planarity.** Under the camera's near-affine projection (a face's depth, ~5 cm, is small next
to its distance), the landmarks of a rigid *flat* picture stay one affine image of each other
in every frame: the 2F x 5 matrix of centred landmark tracks has rank 2. A real head that turns
or nods shows its depth (the nose base stands in front of the eye corners, the outer eye corners
sit behind the inner ones): the matrix gets a third dimension (Tomasi-Kanade factorisation:
rank 3 for a rigid 3D point set). The residual of the best rank-2 fit, in eye distances, is the
depth seen. A picture that clearly tilts (its affine maps stretch one way: foreshortening) and
still fits rank 2 is a plane that turned: evidence of an attack. A face that does not turn gives
neither: the cue abstains. Expressions (talking, blinking) also break rank 2; they are live too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import CameraModel, eye_distance_px

# The TOF spot lands on the nose and cheeks, about this far in front of the eye corners' plane.
FACE_DEPTH_OFFSET_MM = 15.0

ABSTAIN, CONSISTENT, INCONSISTENT = "abstain", "consistent", "inconsistent"
DEPTH, PLANE = "depth", "plane"


@dataclass(frozen=True)
class ScaleEvidence:
    verdict: str            # abstain / consistent / inconsistent
    eye_mm: float | None    # median physical eye distance implied by pixels and distance
    frames: int             # frames that had a distance

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "eye_mm": None if self.eye_mm is None else round(self.eye_mm, 1),
                "frames": self.frames}


def scale_cue(landmarks: np.ndarray, distances_mm, camera: CameraModel, eye_mm_range: tuple[float, float],
              min_frames: int = 3) -> ScaleEvidence:
    """Does the face's size in pixels fit a real face at the measured distances?

    landmarks (F, 5, 2); distances_mm: F values, None where the sensor gave nothing (no target,
    no sensor). Fewer than `min_frames` distances: abstain.
    """
    eye_px = np.atleast_1d(eye_distance_px(np.asarray(landmarks, np.float64).reshape(-1, 5, 2)))
    pairs = [(e, d) for e, d in zip(eye_px, distances_mm) if d is not None and d > 0]
    if len(pairs) < min_frames:
        return ScaleEvidence(ABSTAIN, None, len(pairs))
    implied = np.median([camera.eye_mm_seen(e, d + FACE_DEPTH_OFFSET_MM) for e, d in pairs])
    lo, hi = eye_mm_range
    return ScaleEvidence(CONSISTENT if lo <= implied <= hi else INCONSISTENT, float(implied), len(pairs))


@dataclass(frozen=True)
class PlanarityEvidence:
    verdict: str         # abstain / depth / plane
    depth: float         # rms residual of the best rank-2 (planar) fit, in eye distances
    turn: float          # spread of the fitted affine maps' anisotropy (log ratio): how far it tilted
    frames: int

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "depth": round(self.depth, 4), "turn": round(self.turn, 4),
                "frames": self.frames}


def planarity_measures(landmarks: np.ndarray) -> tuple[float, float]:
    """(depth, turn) of a landmark track (F, 5, 2); see the module docstring."""
    p = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    f = len(p)
    scale = float(np.median(eye_distance_px(p)))
    if f < 2 or scale <= 0:
        return 0.0, 0.0
    centred = (p - p.mean(axis=1, keepdims=True)) / scale
    w = centred.transpose(0, 2, 1).reshape(2 * f, 5)        # rows: x of frame 0, y of frame 0, x of frame 1, ...
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    depth = float(np.sqrt((s[2:] ** 2).sum() / (f * 5)))
    # per-frame 2x2 affine maps of the plane fit, relative to their mean: how anisotropic they get
    maps = (u[:, :2] * s[:2]).reshape(f, 2, 2)
    mean = maps.mean(axis=0)
    if abs(np.linalg.det(mean)) < 1e-9:
        return depth, 0.0
    relative = maps @ np.linalg.inv(mean)
    sv = np.linalg.svd(relative, compute_uv=False)
    anisotropy = np.log(sv[:, 0] / np.maximum(sv[:, 1], 1e-9))
    return depth, float(anisotropy.max() - anisotropy.min())


def planarity_cue(landmarks: np.ndarray, min_frames: int, depth_threshold: float,
                  turn_threshold: float, flat_depth: float) -> PlanarityEvidence:
    """Depth seen (live), a plane that turned (attack), or neither (abstain).

    depth >= depth_threshold: depth; depth < flat_depth while turn >= turn_threshold: plane.
    """
    p = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    if len(p) < min_frames:
        return PlanarityEvidence(ABSTAIN, 0.0, 0.0, len(p))
    depth, turn = planarity_measures(p)
    if depth >= depth_threshold:
        verdict = DEPTH
    elif depth < flat_depth and turn >= turn_threshold:
        verdict = PLANE
    else:
        verdict = ABSTAIN
    return PlanarityEvidence(verdict, depth, turn, len(p))

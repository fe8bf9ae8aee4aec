"""Parallax inside the face: does the face region move like a flat picture or like a head?

Points on a plane, seen from two viewpoints, are related by one homography, whatever the plane
does between the frames (turn, tilt, move closer): a picture held up to the camera — a print,
a screen of any size — moves exactly so. A head does not: the nose stands 2-3 cm in front of
the eyes and cheeks and the face's sides curve 6-8 cm back, and when a head turns (about the
neck, ~9 cm behind the nose) or moves, points at different depths shift by different amounts.
After the best homography between the two frames, what is left over is that depth.

This is the planarity idea of `cues.py` with dozens of points instead of the 5 landmarks: corners
found inside the face (an ellipse from the brows to the chin, cut from the landmarks; the outline
is left out: it is where the head meets the room) in the older frame, followed into the newer
one by pyramidal Lucas-Kanade and back again (points that do not come back to within
`MAX_ROUND_TRIP` px are dropped). The smooth rest of a face (a bowl, seen from the front) moves
nearly like a plane under a homography's projective terms, so the depth that shows is the
nose's: a least-median homography is fitted to the points off the nose (`nose_points`), and the
sample is the median distance of the nose's points from it, in eye distances (`rest`: the
other points' own distance, the tracking noise).

Magnitudes at 640x480 (eye distance 40-90 px; `daka eval liveness`): a life-size print's nose
points stay within ~0.002 eye distances of the homography (p99 ~0.004: tracking noise of a
blurred, noisy picture); a head turning by 2° moves its nose ~17 mm x 0.035 = 0.6 mm off it,
~0.01 eye distances. A flat picture's own turn changes the homography, not the residual: it can
never show depth. What it cannot tell: a head that does not move (nothing to see) and a picture
that is not flat (a print bent round a cylinder shows some parallax; a 3D mask shows all of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .camera import eye_distance_px

MAX_POINTS = 120
MIN_POINTS = 20           # fewer points followed off the nose: no sample
MIN_NOSE_POINTS = 4       # fewer on the nose: no sample
MIN_EYE_PX = 24.0         # smaller faces: no sample (too few pixels for the depth to show)
MAX_ROUND_TRIP = 0.35     # px: forward-backward tracking error allowed
LK = dict(winSize=(11, 11), maxLevel=2,
          criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.02))

ABSTAIN, DEPTH, UNSEEN = "abstain", "depth", "unseen"


@dataclass(frozen=True)
class ParallaxSample:
    residual: float   # the nose points' median shift off the rest's homography (eye distances)
    rest: float       # the other points' median distance from it (tracking noise; eye distances)
    points: int


def _face_axes(marks: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
    """(eye distance, the eyes' centre, unit vector from it to the nose base, that distance)."""
    p = np.asarray(marks, np.float64).reshape(5, 2)
    eyes = p[:4].mean(axis=0)
    down = p[4] - eyes
    length = max(float(np.hypot(*down)), 1e-6)
    return eye_distance_px(p), eyes, down / length, length


def face_region(shape: tuple[int, int], marks: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """(mask, (x0, y0, x1, y1)): the ellipse from the brows to the chin inside the outline, as a
    mask of the box that holds it (clipped to the frame), or None when it is not in the frame."""
    eye, eyes, down, _ = _face_axes(marks)
    centre = eyes + 0.45 * eye * down
    half_w, half_h = 0.85 * eye, 1.2 * eye
    reach = max(half_w, half_h)
    x0, y0 = int(max(0, centre[0] - reach)), int(max(0, centre[1] - reach))
    x1, y1 = int(min(shape[1], centre[0] + reach + 1)), int(min(shape[0], centre[1] + reach + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    angle = float(np.degrees(np.arctan2(down[1], down[0]))) - 90.0
    cv2.ellipse(mask, (int(round(centre[0] - x0)), int(round(centre[1] - y0))),
                (int(round(half_w)), int(round(half_h))), angle, 0, 360, 255, -1)
    return mask, (x0, y0, x1, y1)


def parallax_sample(gray_a: np.ndarray, gray_b: np.ndarray, marks_a: np.ndarray,
                    marks_b: np.ndarray) -> ParallaxSample | None:
    """The sample between an older frame `a` and a newer `b` (grey, same size) of one face, or
    None when the face is too small, out of the frame, or too few points could be followed."""
    if gray_a.shape != gray_b.shape:
        raise ValueError(f"frames differ in size: {gray_a.shape} vs {gray_b.shape}")
    eye = 0.5 * (eye_distance_px(marks_a) + eye_distance_px(marks_b))
    if not np.isfinite(eye) or eye < MIN_EYE_PX:
        return None
    region = face_region(gray_a.shape[:2], marks_a)
    if region is None:
        return None
    mask, (x0, y0, x1, y1) = region
    # the newer frame brought back onto the older by the similarity of the landmarks: LK then
    # follows small motions only (a face coming closer grows by up to ~20% in three frames,
    # which LK's square windows would follow unevenly); a homography composed with a
    # similarity is a homography, so the test is the same
    back_to_a, _ = cv2.estimateAffinePartial2D(np.asarray(marks_b, np.float32).reshape(5, 2),
                                               np.asarray(marks_a, np.float32).reshape(5, 2))
    if back_to_a is None or not np.isfinite(back_to_a).all():
        return None
    bx0, by0 = max(0, x0 - 8), max(0, y0 - 8)
    bx1, by1 = min(gray_a.shape[1], x1 + 8), min(gray_a.shape[0], y1 + 8)
    crop_a = gray_a[by0:by1, bx0:bx1]
    to_crop = back_to_a.copy()
    to_crop[:, 2] -= (bx0, by0)
    crop_b = cv2.warpAffine(gray_b, to_crop, (bx1 - bx0, by1 - by0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    full = np.zeros(crop_a.shape[:2], np.uint8)
    full[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0] = mask
    pts = cv2.goodFeaturesToTrack(crop_a, MAX_POINTS, 0.005, max(2.0, eye / 15.0), mask=full, blockSize=5)
    if pts is None or len(pts) < MIN_POINTS:
        return None
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(crop_a, crop_b, pts, None, **LK)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(crop_b, crop_a, fwd, None, **LK)
    trip = np.hypot(*(back - pts).reshape(-1, 2).T)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (trip < MAX_ROUND_TRIP)
    if ok.sum() < MIN_POINTS:
        return None
    a, b = pts.reshape(-1, 2)[ok].astype(np.float64), fwd.reshape(-1, 2)[ok].astype(np.float64)
    on_nose = nose_points(a + (bx0, by0), marks_a)
    if on_nose.sum() < MIN_NOSE_POINTS or (~on_nose).sum() < MIN_POINTS:
        return None
    # the plane through the rest of the face (eyes, brows, cheeks, mouth): where would the nose be
    hom, _ = cv2.findHomography(a[~on_nose], b[~on_nose], cv2.LMEDS)
    if hom is None:
        return None
    off = b - cv2.perspectiveTransform(a[None], hom)[0]
    # the nose moves off that plane as one: the median of its points' offsets (per axis), while
    # the tracking noise of single points averages out
    nose_shift = float(np.hypot(*np.median(off[on_nose], axis=0)))
    return ParallaxSample(nose_shift / eye, float(np.median(np.hypot(*off[~on_nose].T))) / eye, int(ok.sum()))


def nose_points(points: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Which points (n, 2) lie on the nose: an ellipse on the line from the eyes' centre to the
    nose base, centred 55% of the way down, 0.5 eye distances long and 0.28 wide each side."""
    eye, eyes, down, length = _face_axes(marks)
    rel = np.asarray(points, np.float64).reshape(-1, 2) - eyes
    along = rel @ down / eye - 0.55 * length / eye
    across = rel @ np.array([-down[1], down[0]]) / eye
    return (along / 0.5) ** 2 + (across / 0.28) ** 2 <= 1.0


@dataclass(frozen=True)
class ParallaxEvidence:
    verdict: str              # abstain (too few samples) / depth / unseen (no depth so far)
    residual: float | None    # the `needed`-th largest of the recent samples (eye distances)
    samples: int

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "samples": self.samples,
                "residual": None if self.residual is None else round(self.residual, 4)}


def parallax_cue(residuals: Sequence[float], threshold: float, needed: int, window: int | None = None) -> ParallaxEvidence:
    """Depth when at least `needed` of the last `window` samples (default: all) reach
    `threshold`: a head that moves shows it in consecutive pairs, while tracking noise gives
    isolated spikes (over a long wait two of them would add up). `unseen` once there are
    `needed` samples and they do not; abstain before."""
    if len(residuals) < needed:
        return ParallaxEvidence(ABSTAIN, max(residuals) if residuals else None, len(residuals))
    recent = list(residuals)[-max(window, needed):] if window else list(residuals)
    kth = float(sorted(recent, reverse=True)[needed - 1])
    return ParallaxEvidence(DEPTH if kth >= threshold else UNSEEN, kth, len(residuals))

"""Rigid context: does the image around the face move with the face, or stay where it is?

A picture held up to the camera carries its surroundings with the face: the photo's own
background, the sheet's white margin or the screen's bezel and their straight edges, the hand
holding it. Swaying, all of it follows the face's 2D motion rigidly. A live head moves alone: a
little beyond its outline (about 1.2 eye distances to each side of the eye-nose centre at the
ears) the image is the room, which stays still while the head moves.

Measured on a pair of frames of one track in which the face moved: both frames are cut to the
same face-normalised crop (`PX_PER_EYE` pixels per eye distance, eye axis horizontal); long
straight edges (a sheet's margin, a bezel, a door frame: at least `MIN_EDGE` eye distances,
Hough on Canny) outside the head's outline and above the collar are found in the first, dense
optical flow (Farnebäck) runs between the two, and each edge point's motion across its edge
(the only component an edge shows) is labelled *follows* (the face's motion, a similarity fitted
to the landmarks, extrapolated to the point) or *still*, or neither. The share that follows is
the sample: 1 for a held picture's border, 0 for a door frame behind a live head. No motion, no
straight edge, or too few labelled points: no sample; the cue abstains.

Measured (ACCURACY.md): it catches part of the life-size prints, but a real head turned to 3/4
view, or a microphone held at the chin, also shows long straight edges moving with the face, so
it is off by default (`[liveness] context_cue`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import eye_distance_px

PX_PER_EYE = 20.0          # crop scale: pixels per eye distance
CROP_HALF = 3.0            # the crop spans +-this many eye distances around the eye-nose centre
# a head's outline, in eye distances from the eye-nose centre along the eye axis (u) and across it
# (v, down): an ellipse reaching the ears (+-1.2) and the top of the hair (-2.1); edges inside
# it, or below `EDGE_BOTTOM` (collar, shoulders, a microphone held at the chin), are not used
HEAD_U, HEAD_V, HEAD_TOP = 1.25, 1.0, -2.15
EDGE_BOTTOM = 1.4
MIN_EDGE = 1.5             # eye distances: a straight edge at least this long (a sheet's or a bezel's)
MIN_MOTION = 0.06          # eye distances the face must move between the two frames
MAX_MOTION = 0.6           # farther: the flow is unreliable (and a new detection may have jumped)
MIN_POINTS = 12            # labelled edge points for a sample
TOLERANCE = 0.45           # an edge point's motion within this share of the face's motion of a hypothesis

ABSTAIN, RIGID, APART = "abstain", "rigid", "apart"


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2D similarity (2x3) taking points src (n, 2) to dst (n, 2)."""
    s, d = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    sc, dc = s - s.mean(0), d - d.mean(0)
    denom = float((sc ** 2).sum()) or 1.0
    a = float((sc[:, 0] * dc[:, 0] + sc[:, 1] * dc[:, 1]).sum()) / denom
    b = float((sc[:, 0] * dc[:, 1] - sc[:, 1] * dc[:, 0]).sum()) / denom
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (d.mean(0) - rot @ s.mean(0))[:, None]])


def _crop_transform(marks: np.ndarray, size: int) -> np.ndarray:
    """Frame -> crop: the face's eye axis horizontal, `PX_PER_EYE` px per eye distance, centred."""
    eye_l, eye_r = marks[0:2].mean(0), marks[2:4].mean(0)
    axis = eye_r - eye_l
    scale = PX_PER_EYE / max(float(np.hypot(*axis)), 1e-6)
    angle = np.arctan2(axis[1], axis[0])
    if abs(angle) > np.pi / 2:     # the 5-point model's first eye may be either one
        angle -= np.copysign(np.pi, angle)
    c, s = np.cos(-angle) * scale, np.sin(-angle) * scale
    rot = np.array([[c, -s], [s, c]])
    centre = marks.mean(0)
    return np.hstack([rot, (np.array([size / 2, size / 2]) - rot @ centre)[:, None]])


@dataclass(frozen=True)
class ContextSample:
    follow_share: float     # labelled edge points that moved with the face
    motion: float           # the face's motion between the frames, eye distances
    points: int             # labelled edge points (follows + still)
    edges: int              # straight edges found around the head


_SIZE = int(2 * CROP_HALF * PX_PER_EYE)


def _outside_head(pts: np.ndarray) -> np.ndarray:
    """Crop points (n, 2) outside the head's outline and above the collar."""
    u, v = (pts[:, 0] - _SIZE / 2) / PX_PER_EYE, (pts[:, 1] - _SIZE / 2) / PX_PER_EYE
    half_height = np.where(v < 0, -HEAD_TOP, HEAD_V)
    inside = (u / HEAD_U) ** 2 + (v / half_height) ** 2 <= 1.0
    return ~inside & (v <= EDGE_BOTTOM)


def straight_edges(crop: np.ndarray) -> np.ndarray:
    """Long straight edges around the head in a crop: (n, 4) segments x0, y0, x1, y1."""
    edges = cv2.Canny(cv2.GaussianBlur(crop, (0, 0), 1.0), 30, 80)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=int(0.6 * MIN_EDGE * PX_PER_EYE),
                            minLineLength=int(MIN_EDGE * PX_PER_EYE), maxLineGap=3)
    if lines is None:
        return np.zeros((0, 4))
    keep = []
    for x0, y0, x1, y1 in lines.reshape(-1, 4).astype(np.float64):
        t = np.linspace(0, 1, 9)[:, None]
        pts = np.array([x0, y0]) * (1 - t) + np.array([x1, y1]) * t
        if _outside_head(pts).all():
            keep.append((x0, y0, x1, y1))
    return np.array(keep, np.float64).reshape(-1, 4)


def context_sample(prev_gray: np.ndarray, prev_marks: np.ndarray, gray: np.ndarray,
                   marks: np.ndarray) -> ContextSample | None:
    """One pair of frames (grey, same size) with the face's landmarks (5, 2) in each; None when
    the pair says nothing (the face did not move enough or too much, or no straight edge)."""
    a = np.asarray(prev_marks, np.float64).reshape(5, 2)
    b = np.asarray(marks, np.float64).reshape(5, 2)
    crop = _crop_transform((a + b) / 2, _SIZE)
    to_crop = lambda p: p @ crop[:, :2].T + crop[:, 2]   # noqa: E731
    face = similarity(to_crop(a), to_crop(b))
    motion = float(np.hypot(*(to_crop(b).mean(0) - to_crop(a).mean(0)))) / PX_PER_EYE
    if not MIN_MOTION <= motion <= MAX_MOTION:
        return None
    c0 = cv2.warpAffine(prev_gray, crop, (_SIZE, _SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    segments = straight_edges(c0)
    if len(segments) == 0:
        return None
    c1 = cv2.warpAffine(gray, crop, (_SIZE, _SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    flow = cv2.calcOpticalFlowFarneback(c0, c1, None, 0.5, 3, 7, 3, 5, 1.1, 0)
    follows = still = 0
    for x0, y0, x1, y1 in segments:
        n = int(np.hypot(x1 - x0, y1 - y0) // 3) + 1
        t = np.linspace(0, 1, n)[:, None]
        pts = np.array([x0, y0]) * (1 - t) + np.array([x1, y1]) * t
        pts = pts[_inside(prev_gray.shape, crop, pts)]
        if len(pts) == 0:
            continue
        # an edge only shows the motion across it (the aperture problem)
        normal = np.array([y0 - y1, x1 - x0]) / max(np.hypot(x1 - x0, y1 - y0), 1e-6)
        predicted = pts @ face[:, :2].T + face[:, 2] - pts
        along_face = predicted @ normal
        f = flow[np.clip(pts[:, 1].round().astype(int), 0, _SIZE - 1), np.clip(pts[:, 0].round().astype(int), 0, _SIZE - 1)]
        along_flow = f @ normal
        usable = np.abs(along_face) >= max(0.5 * MIN_MOTION * PX_PER_EYE, 0.3 * motion * PX_PER_EYE)
        follow_err, still_err = np.abs(along_flow - along_face), np.abs(along_flow)
        tol = TOLERANCE * np.abs(along_face)
        follows += int((usable & (follow_err < tol) & (follow_err < still_err)).sum())
        still += int((usable & (still_err < tol) & (still_err <= follow_err)).sum())
    if follows + still < MIN_POINTS:
        return None
    return ContextSample(follows / (follows + still), motion, follows + still, len(segments))


def _inside(shape, crop: np.ndarray, pts: np.ndarray) -> np.ndarray:
    inv = cv2.invertAffineTransform(crop)
    p = pts @ inv[:, :2].T + inv[:, 2]
    h, w = shape[:2]
    return (p[:, 0] >= 1) & (p[:, 0] < w - 1) & (p[:, 1] >= 1) & (p[:, 1] < h - 1)


@dataclass(frozen=True)
class ContextEvidence:
    verdict: str                  # abstain / rigid (a held picture) / apart (the surroundings stayed)
    follow_share: float | None    # median over the samples
    samples: int

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "samples": self.samples,
                "follow_share": None if self.follow_share is None else round(self.follow_share, 3)}


def context_cue(shares: list[float], rigid_share: float, apart_share: float, min_samples: int) -> ContextEvidence:
    """Verdict from a track's samples: median share >= rigid_share over `min_samples` samples:
    rigid; <= apart_share: apart; else (or too few) abstain."""
    if len(shares) < min_samples:
        return ContextEvidence(ABSTAIN, float(np.median(shares)) if shares else None, len(shares))
    med = float(np.median(shares))
    verdict = RIGID if med >= rigid_share else APART if med <= apart_share else ABSTAIN
    return ContextEvidence(verdict, med, len(shares))


class ContextTracker:
    """One track's recent grey frames and landmarks; `add` takes a sample against the nearest
    earlier frame in which the face was far enough away."""

    def __init__(self, history: int = 8, keep: int = 7):
        self.frames: list[tuple[np.ndarray, np.ndarray]] = []
        self.history = history
        self.shares: list[float] = []
        self.keep = keep

    def add(self, gray: np.ndarray, marks: np.ndarray) -> ContextSample | None:
        marks = np.asarray(marks, np.float64).reshape(5, 2)
        sample = None
        eye = max(eye_distance_px(marks), 1.0)
        for prev_gray, prev_marks in reversed(self.frames):
            if prev_gray.shape != gray.shape:
                continue
            shift = float(np.hypot(*(marks.mean(0) - prev_marks.mean(0)))) / eye
            if shift > MAX_MOTION:
                break
            sample = context_sample(prev_gray, prev_marks, gray, marks)
            if sample is not None:
                break
        self.frames.append((gray, marks))
        del self.frames[:-self.history]
        if sample is not None:
            self.shares.append(sample.follow_share)
            del self.shares[:-self.keep]
        return sample

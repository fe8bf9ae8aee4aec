"""Periodic texture: a screen's pixel grid or a print's halftone screen seen through the camera.

A screen shown to a camera beats against the sensor's own pixel grid (moiré fringes); a printed
picture is made of halftone dots on a regular screen, which the camera resolves close up and
aliases into coarser beats farther away. Either way the picture adds a *periodic* pattern to
the face: in the spectrum of the face region it is a narrow peak standing out of the smooth,
falling spectrum of skin, hair and shading. A live face has no such structure.

Measured per frame on the face region at the frame's own resolution (resampling would blur the
pattern away): the grey crop of +-`HALF_WIDTH` eye distances around the eye-nose centre,
Welch-averaged power spectrum (Hann-windowed half-size tiles, 50% overlap), its logarithm
minus the median at the same spatial frequency (a natural image's spectrum depends on the
frequency, barely on the direction): the highest excess in the band `BAND` (cycles per pixel) is
the sample, in natural-log units of power. Frequencies on the two axes are left out: the sensor's
row and column noise and a video codec's block grid put their energy there, and so do straight
edges (a collar, a frame border).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .camera import eye_distance_px

HALF_WIDTH = 1.1       # eye distances: cheeks, forehead and nose
MIN_SIDE = 32          # pixels: smaller faces are not measured
MAX_SIDE = 192         # larger crops are not needed (and cost more)
BAND = (0.06, 0.45)    # cycles per pixel: finer than shading, coarser than the pixel noise
AXIS_BINS = 1          # frequency bins next to either axis left out

ABSTAIN, PERIODIC, NATURAL = "abstain", "periodic", "natural"


@lru_cache(maxsize=64)
def _layout(n: int):
    """For n x n spectra: the Hann window, each bin's radius (cycles/px) and ring, the rings'
    sort order and boundaries, and the bins that are measured."""
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    f = (np.arange(n) - n // 2) / n
    fx, fy = np.meshgrid(f, f)
    radius = np.hypot(fx, fy).ravel()
    rings = np.round(radius * n).astype(int)
    order = np.argsort(rings, kind="stable")
    bounds = np.flatnonzero(np.diff(rings[order])) + 1
    band = (radius >= BAND[0]) & (radius <= BAND[1])
    off_axis = ((np.abs(fx) * n > AXIS_BINS) & (np.abs(fy) * n > AXIS_BINS)).ravel()
    # a real image's spectrum is symmetric: each peak appears twice; one half plane is enough
    keep = band & off_axis & (fy.ravel() > 0)
    return window, order, bounds, keep


def _tiles_power(crop: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Welch: mean power spectrum of Hann-windowed half-size tiles, 50% overlap (fftshifted)."""
    n = window.shape[0]
    step = n // 2
    acc = np.zeros((n, n), np.float64)
    count = 0
    for y in range(0, crop.shape[0] - n + 1, step):
        for x in range(0, crop.shape[1] - n + 1, step):
            tile = crop[y:y + n, x:x + n]
            acc += np.abs(np.fft.fft2((tile - tile.mean()) * window)) ** 2
            count += 1
    return np.fft.fftshift(acc / max(count, 1))


def periodic_peak(gray: np.ndarray, marks: np.ndarray) -> float | None:
    """The sample: the strongest periodic excess in the face region (natural-log power), or
    None when the face is too small or not wholly in the frame."""
    p = np.asarray(marks, np.float64).reshape(5, 2)
    eye = eye_distance_px(p)
    side = int(min(MAX_SIDE, 2 * HALF_WIDTH * eye)) // 4 * 4
    if side < MIN_SIDE:
        return None
    cx, cy = p.mean(axis=0)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    if x0 < 0 or y0 < 0 or x0 + side > gray.shape[1] or y0 + side > gray.shape[0]:
        return None
    crop = gray[y0:y0 + side, x0:x0 + side].astype(np.float32)
    window, order, bounds, keep = _layout(side // 2)
    logp = np.log(_tiles_power(crop, window).ravel() + 1e-6)
    # the spectrum's level at each spatial frequency: the median over directions
    excess = np.empty_like(logp)
    for ring in np.split(order, bounds):
        excess[ring] = logp[ring] - np.median(logp[ring])
    return float(excess[keep].max()) if keep.any() else None


@dataclass(frozen=True)
class TextureEvidence:
    verdict: str              # abstain / periodic (a screen or print) / natural
    peak: float | None        # median of the recent samples
    samples: int

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "samples": self.samples,
                "peak": None if self.peak is None else round(self.peak, 2)}


def texture_cue(peaks: list[float], threshold: float, min_samples: int) -> TextureEvidence:
    """Median of the recent samples >= threshold over `min_samples` samples: periodic."""
    if len(peaks) < min_samples:
        return TextureEvidence(ABSTAIN, float(np.median(peaks)) if peaks else None, len(peaks))
    med = float(np.median(peaks))
    return TextureEvidence(PERIODIC if med >= threshold else NATURAL, med, len(peaks))

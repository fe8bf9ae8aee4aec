"""Where did the picture change? 64x36 thumbnails compared cell by cell.

Used to search for faces only where something moved: a still, empty scene costs almost nothing,
and a face entering is searched for in the part of the frame it changed.
"""

from __future__ import annotations

import cv2
import numpy as np

GRID = (64, 36)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    # every 4th pixel first (cheap), then cell means: camera noise averages out over ~25 pixels a cell
    return cv2.resize(frame[::4, ::4], GRID, interpolation=cv2.INTER_AREA)


def _changed_cells(thumb: np.ndarray, reference: np.ndarray | None, level: int) -> np.ndarray | None:
    if reference is None or reference.shape != thumb.shape:
        return None
    diff = cv2.absdiff(thumb, reference)
    return (diff.max(axis=2) if diff.ndim == 3 else diff) > level


def changed(thumb: np.ndarray, reference: np.ndarray | None, level: int) -> bool:
    """Did any cell change by more than `level` grey levels? (True when there is no reference)"""
    cells = _changed_cells(thumb, reference, level)
    return True if cells is None else bool(cells.any())


def changed_box(thumb, reference, level: int, frame_shape) -> np.ndarray | None:
    """The frame box (l, t, r, b) around every changed cell; the whole frame without a reference."""
    h, w = frame_shape[:2]
    cells = _changed_cells(thumb, reference, level)
    if cells is None:
        return np.array([0.0, 0.0, w - 1.0, h - 1.0])
    if not cells.any():
        return None
    ys, xs = np.nonzero(cells)
    cw, ch = w / GRID[0], h / GRID[1]
    return np.array([xs.min() * cw, ys.min() * ch, (xs.max() + 1) * cw - 1, (ys.max() + 1) * ch - 1])


def grow(box, by: float) -> np.ndarray:
    b = np.asarray(box, np.float64)
    return np.array([b[0] - by, b[1] - by, b[2] + by, b[3] + by])

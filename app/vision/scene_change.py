"""Where did the picture change? 64x36 thumbnails compared cell by cell.

Used to search for faces only where something moved: a still, empty scene costs almost nothing,
and a face entering is searched for in the part of the frame it changed.
"""

from __future__ import annotations

import cv2
import numpy as np

GRID = (64, 36)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    # every 4th pixel first (cheap), then cell means: camera noise averages out over ~25 pixels a cell.
    # The nearest-neighbour resize picks the same pixels as frame[::4, ::4] without copying a strided view.
    h, w = frame.shape[:2]
    sampled = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(sampled, GRID, interpolation=cv2.INTER_AREA)


def _changed_cells(thumb: np.ndarray, reference: np.ndarray | None, level: int) -> np.ndarray | None:
    if reference is None or reference.shape != thumb.shape:
        return None
    diff = cv2.absdiff(thumb, reference)
    return (diff.max(axis=2) if diff.ndim == 3 else diff) > level


def changed(thumb: np.ndarray, reference: np.ndarray | None, level: int) -> bool:
    """Did any cell change by more than `level` grey levels? (True when there is no reference)"""
    cells = _changed_cells(thumb, reference, level)
    return True if cells is None else bool(cells.any())


def changed_fraction(thumb: np.ndarray, reference: np.ndarray | None, level: int) -> float:
    """The share of cells that changed by more than `level` grey levels (0 without a reference)."""
    cells = _changed_cells(thumb, reference, level)
    return 0.0 if cells is None else float(cells.mean())


def cut(thumb: np.ndarray, reference: np.ndarray | None, level: int, share: float, everywhere: float) -> bool:
    """A scene cut: `share` of the cells changed by more than `level`, and at least `everywhere` of
    the cells of each ninth of the picture (3x3): a person moving fast near the camera changes
    much of the picture, but never all of it."""
    cells = _changed_cells(thumb, reference, level)
    if cells is None or cells.mean() < share:
        return False
    h, w = cells.shape
    return all(cells[i * h // 3:(i + 1) * h // 3, j * w // 3:(j + 1) * w // 3].mean() >= everywhere
               for i in range(3) for j in range(3))


def changed_box(thumb, reference, level: int, frame_shape, exclude=()) -> np.ndarray | None:
    """The frame box (l, t, r, b) around every changed cell; the whole frame without a reference.

    Cells lying entirely inside one of the `exclude` frame boxes do not count.
    """
    h, w = frame_shape[:2]
    cells = _changed_cells(thumb, reference, level)
    if cells is None:
        return np.array([0.0, 0.0, w - 1.0, h - 1.0])
    cw, ch = w / GRID[0], h / GRID[1]
    for box in exclude:
        # cells [c0, c1) x [r0, r1) lie wholly inside the box
        c0, r0 = int(np.ceil(box[0] / cw)), int(np.ceil(box[1] / ch))
        c1, r1 = int(np.floor((box[2] + 1) / cw)), int(np.floor((box[3] + 1) / ch))
        if c1 > c0 and r1 > r0:
            cells[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = False
    if not cells.any():
        return None
    ys, xs = np.nonzero(cells)
    return np.array([xs.min() * cw, ys.min() * ch, (xs.max() + 1) * cw - 1, (ys.max() + 1) * ch - 1])


def grow(box, by: float) -> np.ndarray:
    b = np.asarray(box, np.float64)
    return np.array([b[0] - by, b[1] - by, b[2] + by, b[3] + by])

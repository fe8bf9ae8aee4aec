"""The live picture: the newest camera frame fitted to the screen, face boxes and names drawn on it
by the C++ text renderer (FreeType + HarfBuzz). No Kivy: returns a BGR array the screen blits.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.services.events import VisionUpdate

from .texts import text

KNOWN, CHECKING, UNKNOWN = (80, 200, 60), (0, 190, 255), (60, 60, 230)   # BGR


@dataclass(frozen=True)
class Fit:
    """How a camera frame maps onto the screen: scale, then crop (cover) or pad (letterbox)."""

    scale: float
    dx: float    # screen x of frame x 0
    dy: float
    w: int
    h: int

    @classmethod
    def of(cls, frame_w: int, frame_h: int, w: int, h: int, cover: bool = True) -> Fit:
        scale = (max if cover else min)(w / frame_w, h / frame_h)
        return cls(scale, (w - frame_w * scale) / 2, (h - frame_h * scale) / 2, w, h)

    def box(self, box) -> tuple[int, int, int, int]:
        l, t, r, b = box
        return (int(l * self.scale + self.dx), int(t * self.scale + self.dy),
                int(r * self.scale + self.dx), int(b * self.scale + self.dy))


class LiveRenderer:
    def __init__(self, text_renderer, size=(480, 320), cover: bool = True):
        self.text = text_renderer
        self.w, self.h = size
        self.cover = cover
        self._canvas = np.zeros((self.h, self.w, 3), np.uint8)

    def render(self, frame: np.ndarray, update: VisionUpdate | None, language: str = "zh_CN") -> np.ndarray:
        """The screen picture (h, w, 3) BGR; reuses one buffer (copy it to keep it)."""
        fh, fw = frame.shape[:2]
        fit = Fit.of(fw, fh, self.w, self.h, self.cover)
        sw, sh = max(1, round(fw * fit.scale)), max(1, round(fh * fit.scale))
        scaled = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA if fit.scale < 1 else cv2.INTER_LINEAR)
        out = self._canvas
        out[:] = 0
        x0, y0 = int(round(fit.dx)), int(round(fit.dy))
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        cw, ch = min(sw - sx0, self.w - dx0), min(sh - sy0, self.h - dy0)
        out[dy0:dy0 + ch, dx0:dx0 + cw] = scaled[sy0:sy0 + ch, sx0:sx0 + cw]
        if update is not None:
            self._draw_faces(out, fit, update, language)
        return out

    def _draw_faces(self, out, fit: Fit, update: VisionUpdate, language: str) -> None:
        for track in update.result.tracks:
            l, t, r, b = fit.box(track.box)
            rec = track.recognition
            card = update.cards.get(track.staff_id) if track.staff_id is not None else None  # named once live
            if card is not None:
                color, label = KNOWN, card.name
            elif rec is not None and rec.reason in ("below_threshold", "low_margin", "empty_gallery"):
                color, label = UNKNOWN, text("unknown_label", language)
            else:
                color, label = CHECKING, None
            cv2.rectangle(out, (l, t), (r, b), color, 2, cv2.LINE_AA)
            if label:
                size = 22
                height = self.text.measure(label, size).height
                y = t - height - 10 if t - height - 10 >= 0 else b + 4
                self.text.draw(out, label, (max(0, l), max(0, min(self.h - height - 8, y))), size,
                               color=(255, 255, 255), background=(*color, 220), padding=4)

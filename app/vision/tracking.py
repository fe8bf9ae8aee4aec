"""Face tracks: stable ids across frames, full detection every few frames, cheap following between.

On a detection frame, detections are matched to tracks by box overlap (greedy, best overlap
first); unmatched detections open new tracks; a track missed by `max_missed` detection passes in
a row expires. Between detections a track is *followed*: the 5-point landmark model (0.2 ms) is
run in the track's previous box on the new frame, and the box is moved and scaled with the
landmarks. The next detection pass confirms or drops what was followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import numpy as np

from .decision import Recognition, TrackEvidence


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap (intersection over union) of boxes a (n, 4) and b (m, 4), inclusive pixel boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    l = np.maximum(a[:, None, 0], b[None, :, 0])
    t = np.maximum(a[:, None, 1], b[None, :, 1])
    r = np.minimum(a[:, None, 2], b[None, :, 2])
    btm = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(r - l + 1, 0, None) * np.clip(btm - t + 1, 0, None)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def eye_distance(landmarks: np.ndarray) -> float:
    p = np.asarray(landmarks, np.float64)
    return float(np.hypot(*(p[0:2].mean(axis=0) - p[2:4].mean(axis=0))))


@dataclass
class Track:
    id: int
    box: np.ndarray            # left, top, right, bottom (inclusive), frame pixels
    landmarks: np.ndarray      # (5, 2)
    first_frame: int
    last_detected_frame: int
    detections: int = 1
    missed: int = 0            # detection passes in a row that did not find this track
    # recognition state, kept by the pipeline
    evidence: TrackEvidence = field(default_factory=TrackEvidence)
    recognition: Recognition | None = None
    last_recognised_frame: int | None = None
    recognised_quality: float = 0.0   # best quality score among the recognised views

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0] + 1)


class FaceTracker:
    def __init__(self, min_iou: float = 0.3, max_missed: int = 1):
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._ids = count(1)

    def update(self, frame_index: int, boxes: np.ndarray, landmarks: np.ndarray) -> list[Track]:
        """Match one detection pass to the tracks; return the tracks opened by it."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        unmatched_tracks = set(range(len(self.tracks)))
        unmatched_dets = set(range(len(boxes)))
        if self.tracks and len(boxes):
            overlap = iou(np.stack([t.box for t in self.tracks]), boxes)
            for ti, di in zip(*np.unravel_index(np.argsort(-overlap, axis=None), overlap.shape)):
                if overlap[ti, di] < self.min_iou:
                    break
                if ti in unmatched_tracks and di in unmatched_dets:
                    track = self.tracks[ti]
                    track.box, track.landmarks = boxes[di].copy(), landmarks[di].copy()
                    track.last_detected_frame = frame_index
                    track.detections += 1
                    track.missed = 0
                    unmatched_tracks.discard(ti)
                    unmatched_dets.discard(di)
        for ti in unmatched_tracks:
            self.tracks[ti].missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        opened = [Track(next(self._ids), boxes[di].copy(), landmarks[di].copy(), frame_index, frame_index)
                  for di in sorted(unmatched_dets)]
        self.tracks.extend(opened)
        return opened

    def follow(self, frame: np.ndarray, landmark_model) -> None:
        """Move every track to where its landmarks are in `frame` (no detection)."""
        if not self.tracks:
            return
        h, w = frame.shape[:2]
        boxes = np.stack([t.box for t in self.tracks])
        shapes = landmark_model.predict(frame, boxes)
        for track, new in zip(self.tracks, shapes):
            old = track.landmarks
            old_d, new_d = eye_distance(old), eye_distance(new)
            scale = new_d / old_d if old_d > 1e-6 and new_d > 1e-6 else 1.0
            scale = float(np.clip(scale, 0.8, 1.25))  # a face does not change size fast
            shift = new.mean(axis=0) - old.mean(axis=0)
            cx = (track.box[0] + track.box[2]) / 2 + shift[0]
            cy = (track.box[1] + track.box[3]) / 2 + shift[1]
            half_w = (track.box[2] - track.box[0]) / 2 * scale
            half_h = (track.box[3] - track.box[1]) / 2 * scale
            track.box = np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
            track.landmarks = np.asarray(new, np.float32)
        # a track followed entirely out of the frame is gone
        self.tracks = [t for t in self.tracks
                       if t.box[2] > 0 and t.box[3] > 0 and t.box[0] < w - 1 and t.box[1] < h - 1]

    def clear(self) -> None:
        self.tracks = []

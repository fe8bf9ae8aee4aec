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
    looks: list = field(default_factory=list)   # the face's appearances its descriptors vouched for (latest 8)
    quick: list = field(default_factory=list)   # its full descriptors' quick-comparable parts (latest 8)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre, pixels a frame

    def __post_init__(self):
        self.anchor()

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0] + 1)

    def anchor(self) -> None:
        """Remember where the detector's box sits relative to the landmarks (in eye distances)."""
        d = max(eye_distance(self.landmarks), 1.0)
        self._anchor_d = d
        centre = np.asarray(self.landmarks, np.float64).mean(axis=0)
        self._offset = (np.array([self.box[0], self.box[1]]) - centre) / d
        self._size = np.array([self.box[2] - self.box[0], self.box[3] - self.box[1]]) / d

    def box_for(self, landmarks: np.ndarray) -> np.ndarray:
        """The box the detector would give for these landmarks (same geometry as at the last detection)."""
        d = max(eye_distance(landmarks), 1.0)
        # A face does not change size fast (5% a frame, a third between detections); the clamp
        # stops a loop where a too-large box spreads the landmarks, which grow the box.
        last = eye_distance(self.landmarks)
        if last >= 1.0:
            d = float(np.clip(d, 0.95 * last, 1.05 * last))
        d = float(np.clip(d, 0.75 * self._anchor_d, 1.33 * self._anchor_d))
        top_left = np.asarray(landmarks, np.float64).mean(axis=0) + self._offset * d
        return np.concatenate([top_left, top_left + self._size * d])


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
                    track.anchor()
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
        """Move every track to where its landmarks are in `frame` (no detection).

        The landmarks are predicted in the track's last box moved on by the track's last motion
        (a face walking in keeps its speed from frame to frame), the box is re-placed from them
        (keeping the box-to-landmarks geometry of the last detection, so errors do not compound),
        and, when that moved the box far, the landmarks are predicted once more in the new box:
        the face is then seen centred, as the landmark model expects.
        """
        if not self.tracks:
            return
        h, w = frame.shape[:2]
        last = np.stack([t.box for t in self.tracks])
        # where the face should be if it keeps moving as it did over the last frame
        before = last + np.stack([np.tile(t.velocity, 2) for t in self.tracks])
        shapes = landmark_model.predict(frame, before)
        boxes = np.stack([t.box_for(shape) for t, shape in zip(self.tracks, shapes)])
        shift = np.abs(boxes[:, :2] - before[:, :2]).max(axis=1) / np.maximum(before[:, 2] - before[:, 0], 1)
        if np.any(shift > 0.08):  # moved far: look again with the face centred in its box
            shapes = landmark_model.predict(frame, boxes)
            boxes = np.stack([t.box_for(shape) for t, shape in zip(self.tracks, shapes)])
        for track, box, shape, previous in zip(self.tracks, boxes, shapes, last):
            track.velocity = (box[:2] + box[2:] - previous[:2] - previous[2:]) / 2
            track.box, track.landmarks = box, np.asarray(shape, np.float32)
        # a track followed entirely out of the frame is gone
        self.tracks = [t for t in self.tracks
                       if t.box[2] > 0 and t.box[3] > 0 and t.box[0] < w - 1 and t.box[1] < h - 1]

    def renew(self, track: Track, frame_index: int) -> Track:
        """Put a new track (new id, no identity) in place of `track`: another face is under its box.

        The box and its motion stay (the tracker keeps following whatever is there); everything
        known about who it is goes, so the new face earns its own name and liveness.
        """
        fresh = Track(next(self._ids), track.box.copy(), track.landmarks.copy(), frame_index,
                      track.last_detected_frame, missed=track.missed, velocity=track.velocity.copy())
        self.tracks = [fresh if t is track else t for t in self.tracks]
        return fresh

    def clear(self) -> None:
        self.tracks = []

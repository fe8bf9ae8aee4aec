"""The per-frame vision pipeline: detect or follow, judge quality, recognise when due, decide.

`VisionPipeline.process(frame)` is single-threaded and deterministic (tests drive it directly);
`app.vision.worker.VisionWorker` runs it on its own thread over a latest-frame slot.

Recognition schedule for a track (the seed recognised every frame; it need not):
- a new track is recognised on its first good-quality view;
- until it has `min_observations` observations it is recognised on each good view, so the
  agreement rule can be met within a few frames;
- after that only when its last recognition is `recognize_stale_frames` old, or when a view
  arrives whose quality score beats the best recognised one by `better_view_factor`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from app import native

from .decision import DecisionRule, Recognition, decide
from .quality import Quality, QualityThresholds, assess
from .tracking import FaceTracker, Track


@dataclass(frozen=True)
class TrackView:
    """What one frame says about one track (copied: safe to hand to another thread)."""

    track_id: int
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    quality: Quality
    recognition: Recognition | None
    recognised_now: bool
    first_frame: int

    @property
    def staff_id(self) -> int | None:
        return self.recognition.staff_id if self.recognition else None


@dataclass
class FrameResult:
    index: int
    timestamp: float
    detected: bool                    # the detector ran on this frame (else tracks were followed)
    tracks: list[TrackView] = field(default_factory=list)
    recognised: int = 0               # descriptors computed on this frame
    seconds: float = 0.0              # processing time


@dataclass(frozen=True)
class PipelineSettings:
    detect_downscale: float = 0.0
    detect_upsample: int = 0
    detect_threads: int = 2
    min_face_px: int = 100
    detect_every_n_frames: int = 10
    idle_motion_level: int = 12
    recognize_stale_frames: int = 40
    better_view_factor: float = 1.3
    track_min_iou: float = 0.3
    track_max_missed: int = 1

    @classmethod
    def from_config(cls, vision) -> "PipelineSettings":
        return cls(
            detect_downscale=vision.detect_downscale, detect_upsample=vision.detect_upsample,
            detect_threads=vision.detect_threads, min_face_px=vision.min_face_px,
            detect_every_n_frames=vision.detect_every_n_frames, idle_motion_level=vision.idle_motion_level,
            recognize_stale_frames=vision.recognize_stale_frames,
            better_view_factor=vision.better_view_factor, track_min_iou=vision.track_min_iou,
            track_max_missed=vision.track_max_missed,
        )


class VisionPipeline:
    def __init__(self, detector, landmark_model, embedder, gallery, rule: DecisionRule,
                 settings: PipelineSettings | None = None, quality: QualityThresholds | None = None):
        self.detector = detector
        self.landmark_model = landmark_model
        self.embedder = embedder
        self.gallery = gallery
        self.rule = rule
        self.settings = settings or PipelineSettings()
        self.quality = quality or QualityThresholds(min_face_px=self.settings.min_face_px)
        self.tracker = FaceTracker(self.settings.track_min_iou, self.settings.track_max_missed)
        self.index = -1
        self._last_detection = None
        self._thumb = None

    @classmethod
    def from_config(cls, models, config, gallery, embedder=None) -> "VisionPipeline":
        from .descriptors import open_descriptor
        from .embedders import DlibEmbedder

        vision = config.vision
        if embedder is None:
            descriptor = open_descriptor(models, vision.descriptor_backend, vision.descriptor_threads)
            embedder = DlibEmbedder(descriptor, flip=vision.flip_augment)
        return cls(native.FaceDetector(),
                   native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks"))),
                   embedder, gallery, DecisionRule.from_config(config.recognition),
                   PipelineSettings.from_config(vision))

    @property
    def tracks(self) -> list[Track]:
        return self.tracker.tracks

    def reset(self) -> None:
        self.tracker.clear()
        self._last_detection = None
        self._thumb = None

    def _moved(self, frame: np.ndarray) -> bool:
        """Did anything change since the previous frame? (a 64x36 thumbnail, any cell by > level)"""
        # every 4th pixel first (cheap), then cell means: noise averages out over ~25+ pixels a cell
        thumb = cv2.resize(frame[::4, ::4], (64, 36), interpolation=cv2.INTER_AREA)
        previous, self._thumb = self._thumb, thumb
        if previous is None or previous.shape != thumb.shape:
            return True
        return int(cv2.absdiff(thumb, previous).max()) > self.settings.idle_motion_level

    def _detect_due(self, frame: np.ndarray) -> bool:
        # With nothing tracked, every frame in which something moved is searched (so a face
        # entering is found at once) and a still scene every n-th frame; while tracking, the
        # detector runs every n-th frame and the tracks are followed between.
        since = None if self._last_detection is None else self.index - self._last_detection
        if since is None or since >= self.settings.detect_every_n_frames:
            if not self.tracker.tracks and self.settings.idle_motion_level > 0:
                self._moved(frame)
            return True
        if not self.tracker.tracks:
            return self.settings.idle_motion_level <= 0 or self._moved(frame)
        self._thumb = None
        return False

    def _detect(self, frame: np.ndarray) -> None:
        s = self.settings
        boxes, _, _ = self.detector.detect(frame, downscale=s.detect_downscale, upsample=s.detect_upsample,
                                           min_face=s.min_face_px, threads=s.detect_threads)
        shapes = (self.landmark_model.predict(frame, boxes) if len(boxes)
                  else np.zeros((0, 5, 2), np.float32))
        self.tracker.update(self.index, boxes, shapes)
        self._last_detection = self.index

    def _recognition_due(self, track: Track, quality: Quality) -> bool:
        if not quality.ok:
            return False
        if track.last_recognised_frame is None or len(track.evidence) < self.rule.min_observations:
            return True
        if self.index - track.last_recognised_frame >= self.settings.recognize_stale_frames:
            return True
        return quality.score > track.recognised_quality * self.settings.better_view_factor

    def process(self, frame: np.ndarray, timestamp: float | None = None) -> FrameResult:
        t0 = time.perf_counter()
        self.index += 1
        detected = self._detect_due(frame)
        if detected:
            self._detect(frame)
        else:
            self.tracker.follow(frame, self.landmark_model)
        tracks = list(self.tracker.tracks)
        result = FrameResult(self.index, time.monotonic() if timestamp is None else timestamp, detected)
        if not tracks:
            result.seconds = time.perf_counter() - t0
            return result

        chips = self.embedder.chips(frame, np.stack([t.landmarks for t in tracks]))
        qualities = [assess(frame.shape, t.box, t.landmarks, chip, self.quality) for t, chip in zip(tracks, chips)]
        due = [i for i, (t, q) in enumerate(zip(tracks, qualities)) if self._recognition_due(t, q)]
        if due:
            vectors = self.embedder.embed_chips(np.ascontiguousarray(chips[due]))
            votes = self.gallery.match_many(vectors)
            for i, vector, vote in zip(due, vectors, votes):
                track, quality = tracks[i], qualities[i]
                track.evidence.add(vector, quality.score, vote.staff_id)
                track.recognition = decide(self.gallery, track.evidence, self.rule)
                track.last_recognised_frame = self.index
                track.recognised_quality = max(track.recognised_quality, quality.score)
        due_set = set(due)
        result.tracks = [
            TrackView(t.id, tuple(float(v) for v in t.box), t.landmarks.copy(), q, t.recognition,
                      i in due_set, t.first_frame)
            for i, (t, q) in enumerate(zip(tracks, qualities))
        ]
        result.recognised = len(due)
        result.seconds = time.perf_counter() - t0
        return result

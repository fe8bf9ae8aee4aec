"""The per-frame vision pipeline: detect or follow, judge quality, recognise when due, decide.

`VisionPipeline.process(frame)` is single-threaded and deterministic (tests drive it directly);
`app.vision.worker.VisionWorker` runs it on its own thread over a latest-frame slot.

Recognition schedule for a track (the seed recognised every frame; it need not):
- a new track is recognised on its first good-quality view;
- until it has `min_observations` observations it is recognised on each good view, so the
  agreement rule can be met within a few frames;
- after that only when its last recognition is `recognize_stale_frames` old, or when a view
  arrives whose quality score beats the best recognised one by `better_view_factor`.

Identity belongs to the face under the track, not to the track (app/vision/appearance.py):
- every frame, the face under a track with an identity must look like one of the views its
  descriptors vouched for; if it does not, a good view is checked again at once (a quick dlib
  descriptor against the track's own, then, if that does not vouch for it, a full recognition)
  and a poor one starts the track over (a new id: no name, no card, until the new face earns them);
- every new descriptor must match the track's own earlier ones (at the decision threshold);
  if it does not, another face is under the box: the track starts over with this view;
- a scene cut (most of the picture changed at once) ends every track.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from app import native

from .appearance import SAME_LOOK, look, same_look
from .decision import DecisionRule, Recognition, decide
from .engine import VisionParts, describe_views, judge_views
from .liveness import LivenessMonitor, LivenessPolicy, LivenessResult
from .quality import Quality, QualityThresholds
from .scene_change import changed, changed_box, cut, grow, thumbnail
from .tracking import FaceTracker, Track, iou


# A tracked face cannot shrink by more than this between two detection passes (a face changes
# size by a few percent a frame): around a track the detector looks for faces this big or bigger.
TRACKED_FACE_SHRINK = 0.7


def _clip(boxes: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """The integer frame region (x0, y0, x1, y1), x1/y1 exclusive, around boxes (n, 4)."""
    x0, y0 = max(0, int(boxes[:, 0].min())), max(0, int(boxes[:, 1].min()))
    x1, y1 = min(w, int(np.ceil(boxes[:, 2].max())) + 1), min(h, int(np.ceil(boxes[:, 3].max())) + 1)
    return x0, y0, x1, y1


def _inside(a, b) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


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
    liveness: LivenessResult | None = None   # None: no liveness check configured

    @property
    def live(self) -> bool:
        return self.liveness is None or self.liveness.passed

    @property
    def staff_id(self) -> int | None:
        """The recognised person, only once the face passed liveness (what may become a confirm card)."""
        return self.recognition.staff_id if self.recognition and self.live else None


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
    full_detect_every_n_passes: int = 10
    recognize_stale_frames: int = 40
    better_view_factor: float = 1.3
    track_min_iou: float = 0.3
    track_max_missed: int = 1
    same_look: float = SAME_LOOK          # see app/vision/appearance.py
    # A changed look is still the same face when a quick (dlib, one chip) descriptor matches the
    # track's own at dlib's decision threshold ([recognition] threshold, set by from_config).
    quick_threshold: float = 0.948
    # A cut: this share of the picture's cells changed by more than `scene_cut_level` grey levels
    # from one processed frame to the next (0 = off), and `scene_cut_everywhere` of each ninth of
    # it. On the development video the cuts change 55-64% of the cells at 15 levels (each ninth
    # >= 10%), any other frame at most 26%; a face leaving fast at 640x480 changed 46%, with
    # ninths unchanged.
    scene_cut_fraction: float = 0.45
    scene_cut_level: int = 15
    scene_cut_everywhere: float = 0.08

    @classmethod
    def from_config(cls, vision) -> "PipelineSettings":
        return cls(
            detect_downscale=vision.detect_downscale, detect_upsample=vision.detect_upsample,
            detect_threads=vision.detect_threads, min_face_px=vision.min_face_px,
            detect_every_n_frames=vision.detect_every_n_frames, idle_motion_level=vision.idle_motion_level,
            full_detect_every_n_passes=vision.full_detect_every_n_passes,
            recognize_stale_frames=vision.recognize_stale_frames,
            better_view_factor=vision.better_view_factor, track_min_iou=vision.track_min_iou,
            track_max_missed=vision.track_max_missed,
        )


class VisionPipeline:
    def __init__(self, detector, landmark_model, embedder, gallery, rule: DecisionRule,
                 settings: PipelineSettings | None = None, quality: QualityThresholds | None = None,
                 liveness: LivenessMonitor | None = None, distance_source=None):
        self.detector = detector
        self.landmark_model = landmark_model
        self.embedder = embedder
        self.parts: VisionParts | None = None   # set by from_config: the shared networks
        self.gallery = gallery
        self.rule = rule
        self.settings = settings or PipelineSettings()
        self.quality = quality or QualityThresholds(min_face_px=self.settings.min_face_px)
        self.tracker = FaceTracker(self.settings.track_min_iou, self.settings.track_max_missed)
        self.index = -1
        self._last_detection = None
        self._previous = self._reference = None   # thumbnails: previous frame, last detection pass
        self._passes = 0                          # detection passes since the last full-frame one
        self.renewed = 0                          # tracks started over: another face under the box
        self.cuts = 0                             # scene cuts seen
        self.quick_checks = 0                     # quick descriptors (a changed look checked)
        # liveness: a distance (mm, None = no reading) comes with the frame or from distance_source()
        self.liveness = liveness
        self.distance_source = distance_source

    @classmethod
    def from_config(cls, parts: VisionParts, config, gallery) -> "VisionPipeline":
        """The pipeline `config` describes, on the process's landmark model and embedder (`parts`,
        see app.services.compose.open_vision) and its own detector."""
        vision = config.vision
        pipeline = cls(native.FaceDetector(), parts.landmarks, parts.embedder, gallery,
                       DecisionRule.from_config(config.recognition, vision.embedder),
                       replace(PipelineSettings.from_config(vision), quick_threshold=config.recognition.threshold),
                       liveness=LivenessMonitor(LivenessPolicy.for_level(
                           config.liveness.level, texture_decides=config.liveness.texture_cue,
                           parallax_decides=config.liveness.parallax_cue,
                           context_decides=config.liveness.context_cue), config.liveness.focal_px,
                           sensor_fitted=config.sensor.enabled))
        pipeline.parts = parts   # keeps the shared networks alive as long as the pipeline
        return pipeline

    @property
    def tracks(self) -> list[Track]:
        return self.tracker.tracks

    def reset(self) -> None:
        self.tracker.clear()
        self._last_detection = None
        self._previous = self._reference = None
        self._passes = 0
        if self.liveness is not None:
            self.liveness.reset()

    def _plan_detection(self, frame: np.ndarray):
        """Whether and where to run the detector on this frame.

        None = no pass (follow the tracks); "skip" = a pass with nothing to search; "full" = the
        whole frame; else a list of searches ((x0, y0, x1, y1), min_face). With nobody tracked, a
        frame is searched when something moved since the previous frame (a face entering is found
        at once); while tracking, every n-th frame. A pass searches around the tracks, for faces
        of about their size (a coarser, cheaper scale), and, at `min_face_px`, where the picture
        changed since the last pass outside those neighbourhoods: a face cannot appear where
        nothing changed. Every `full_detect_every_n_passes`-th pass (and whenever the change is
        large) searches the whole frame at `min_face_px`, so nothing is missed for long.
        """
        s = self.settings
        gated = s.idle_motion_level > 0
        thumb = thumbnail(frame) if gated or s.scene_cut_fraction > 0 else None
        previous, self._previous = self._previous, thumb
        if s.scene_cut_fraction > 0 and self.tracker.tracks and previous is not None \
                and cut(thumb, previous, s.scene_cut_level, s.scene_cut_fraction, s.scene_cut_everywhere):
            # A cut: whoever is in view now is not who was tracked, wherever their faces are.
            self.tracker.clear()
            self.cuts += 1
            self._last_detection, self._reference, self._passes = self.index, thumb, 0
            return "full"
        if not gated:
            thumb = None
        since = None if self._last_detection is None else self.index - self._last_detection
        if since is not None and since < s.detect_every_n_frames:
            if self.tracker.tracks or (gated and not changed(thumb, previous, s.idle_motion_level)):
                return None
        self._last_detection = self.index
        if not gated or self._reference is None or self._passes >= s.full_detect_every_n_passes:
            self._reference, self._passes = thumb, 0
            return "full"
        change = changed_box(thumb, self._reference, s.idle_motion_level, frame.shape,
                             exclude=[grow(t.box, 0.5 * t.width) for t in self.tracker.tracks])
        self._reference = thumb
        self._passes += 1
        h, w = frame.shape[:2]
        searches = []
        if change is not None:
            searches.append((_clip(grow(change, s.min_face_px)[None], w, h), s.min_face_px))
        # Around the tracks only faces about their size can be: a coarser, cheaper scale suffices
        # (for the tracks the change search above does not already cover).
        near = [t for t in self.tracker.tracks
                if not searches or not _inside(_clip(grow(t.box, 0.5 * t.width)[None], w, h), searches[0][0])]
        if near:
            region = _clip(np.stack([grow(t.box, 0.5 * t.width) for t in near]), w, h)
            searches.append((region, max(s.min_face_px, int(TRACKED_FACE_SHRINK * min(t.width for t in near)))))
        if not searches:
            return "skip"
        union = _clip(np.array([r for r, _ in searches], np.float64) - [0, 0, 1, 1], w, h)
        if (union[2] - union[0]) * (union[3] - union[1]) > 0.8 * w * h:  # the whole frame is as cheap
            self._passes = 0
            return "full"
        return searches

    def _detect(self, frame: np.ndarray, plan) -> None:
        s = self.settings
        searches = [((0, 0, frame.shape[1], frame.shape[0]), s.min_face_px)] if plan == "full" else plan
        found = np.zeros((0, 4), np.float64)
        for (x0, y0, x1, y1), min_face in searches:
            whole = (x0, y0, x1, y1) == (0, 0, frame.shape[1], frame.shape[0])
            image = frame if whole else np.ascontiguousarray(frame[y0:y1, x0:x1])
            boxes, _, _ = self.detector.detect(image, downscale=s.detect_downscale, upsample=s.detect_upsample,
                                               min_face=min_face, threads=s.detect_threads)
            if len(boxes):
                boxes = boxes + np.array([x0, y0, x0, y0], np.float64)
                if len(found):  # the searches may overlap: one face, one box
                    boxes = boxes[iou(boxes, found).max(axis=1) < 0.5]
                found = np.concatenate([found, boxes])
        shapes = (self.landmark_model.predict(frame, found) if len(found)
                  else np.zeros((0, 5, 2), np.float32))
        self.tracker.update(self.index, found, shapes)

    def _vouched_quickly(self, tracks, chips, looks, candidates) -> set[int]:
        """Of the tracks whose face looks different now, those a quick descriptor (dlib, one chip:
        about a fifth of a full description) still finds to be the face its full descriptors
        described, at the threshold that tells people apart; their new look is vouched for. The
        others get a full recognition (which starts them over if it is another face)."""
        quick = getattr(self.embedder, "quick", None)
        ids = sorted(i for i in candidates if tracks[i].quick)
        if quick is None or not ids:
            return set()
        vectors = quick(np.stack([chips[i] for i in ids]))
        self.quick_checks += len(ids)
        vouched = set()
        for i, vector in zip(ids, vectors):
            track = tracks[i]
            centre = np.sum(track.quick, axis=0)
            if float(np.dot(vector, centre / max(float(np.linalg.norm(centre)), 1e-12))) >= self.settings.quick_threshold:
                track.looks = (track.looks + [looks[i]])[-8:]
                vouched.add(i)
        return vouched

    def _renew(self, track: Track) -> Track:
        self.renewed += 1
        return self.tracker.renew(track, self.index)

    def _recognition_due(self, track: Track, quality: Quality) -> bool:
        if not quality.ok or track.missed:
            return False
        if track.last_recognised_frame is None or len(track.evidence) < self.rule.min_observations:
            return True
        if self.index - track.last_recognised_frame >= self.settings.recognize_stale_frames:
            return True
        return quality.score > track.recognised_quality * self.settings.better_view_factor

    def process(self, frame: np.ndarray, timestamp: float | None = None,
                distance_mm: float | None = None) -> FrameResult:
        t0 = time.perf_counter()
        self.index += 1
        region = self._plan_detection(frame)
        detected = region is not None and region != "skip"
        if detected:
            self._detect(frame, region)
        else:
            self.tracker.follow(frame, self.landmark_model)
        tracks = list(self.tracker.tracks)
        result = FrameResult(self.index, time.monotonic() if timestamp is None else timestamp, detected)
        if not tracks:
            result.seconds = time.perf_counter() - t0
            return result

        chips, qualities = judge_views(frame, [t.box for t in tracks], np.stack([t.landmarks for t in tracks]),
                                       self.embedder, self.quality)
        looks = [look(chip) for chip in chips]
        recheck = set()
        for i, (t, q) in enumerate(zip(tracks, qualities)):
            if not t.looks or any(same_look(looks[i], seen, self.settings.same_look) for seen in t.looks):
                continue
            if q.ok and not t.missed:
                recheck.add(i)            # it looks different: the descriptor decides, on this frame
            else:                         # too poor a view to tell: the identity starts over
                tracks[i] = self._renew(t)
        if recheck:
            recheck -= self._vouched_quickly(tracks, chips, looks, recheck)
        due = [i for i, (t, q) in enumerate(zip(tracks, qualities))
               if i in recheck or self._recognition_due(t, q)]
        if due:
            # Every model of the embedder in one batch; faceres adds gender and age (information only).
            described, vectors = describe_views(frame, np.stack([tracks[i].landmarks for i in due]), self.embedder)
            votes = self.gallery.match_many(vectors)
            for k, (i, vector, vote) in enumerate(zip(due, vectors, votes)):
                track, quality = tracks[i], qualities[i]
                if len(track.evidence) and float(np.dot(vector, track.evidence.aggregate())) < self.rule.threshold:
                    # not the face this track saw so far (the threshold that tells people apart)
                    track = tracks[i] = self._renew(track)
                track.evidence.add(vector, quality.score, vote.staff_id, vote)
                track.recognition = decide(self.gallery, track.evidence, self.rule)
                if described.attributes:
                    track.recognition = replace(track.recognition, attributes=described.attributes[k])
                track.last_recognised_frame = self.index
                track.recognised_quality = max(track.recognised_quality, quality.score)
                track.looks = (track.looks + [looks[i]])[-8:]
                quick_kind = getattr(self.embedder, "quick_kind", None)
                if quick_kind in described.parts:
                    track.quick = (track.quick + [described.parts[quick_kind][k]])[-8:]
        due_set = set(due)
        if distance_mm is None and self.distance_source is not None:
            distance_mm = self.distance_source()
        alive = ({} if self.liveness is None else
                 self.liveness.update(frame.shape, tracks, distance_mm, [q.ok for q in qualities], frame=frame))
        result.tracks = [
            # A track the last detection pass missed may be following nothing (the face left):
            # it keeps its id until the next pass, but names nobody.
            TrackView(t.id, tuple(float(v) for v in t.box), t.landmarks.copy(), q,
                      None if t.missed else t.recognition, i in due_set, t.first_frame, alive.get(t.id))
            for i, (t, q) in enumerate(zip(tracks, qualities))
        ]
        result.recognised = len(due)
        result.seconds = time.perf_counter() - t0
        return result

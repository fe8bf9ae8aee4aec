"""The liveness decision for one track, from its cues over the frames seen so far.

States (what the screen shows):
- ``checking``: not enough evidence yet (nothing shown; the confirm card waits);
- ``challenge``: the size fits but no depth was seen: "请缓慢转头" (turn slowly);
- ``live``: the recognition may become a confirm card;
- ``spoof``: "活体检测未通过"; sticky for the track (moving the picture about does not retry).

The TOF beam measures whatever is on the camera axis, so a reading is taken as a face's only
while the face covers the frame centre (`on_beam`); a face elsewhere while the sensor reads is
"off_centre" ("请正对屏幕中央") and waits: a small picture held off-axis cannot borrow the
distance of the person holding it, and a second face cannot pass for want of a reading.

Levels:
- ``off``: every track is live at once.
- ``normal``: a face whose size does not fit the TOF distance is a spoof. A face is *ready* once
  its size fits over `min_frames` frames (or, with no sensor fitted and no reading given, after
  `min_frames` frames: the scale cue abstains); it is live once the parallax cue (`parallax`)
  has seen a head's depth: `parallax_needed` frame pairs in which the nose moved off the plane
  of the rest of the face by `parallax_threshold` eye distances or more. A flat picture of any
  size cannot; a head that sways a little does within a few frames. A ready face that shows no
  depth for `depth_wait` frames is asked to turn the head ("请缓慢转头"); no depth within
  `challenge_frames` more frames is a spoof (`challenge_timeout`).
- ``strict``: the same with a narrower range of eye distances, more frames of fitting size,
  more depth evidence (`parallax_needed` 3), and a sensor reading required (no decision without).

Without frames (landmarks only) or with `parallax_decides` off, depth comes from the 5
landmarks (`cues.planarity_cue`, too weak to decide at normal): normal is then live once the
size fits (a life-size picture passes), strict needs the landmark depth far enough from the
camera, with the same challenge.

Image cues (the frame given with the landmarks): at normal and strict a face showing a periodic
pattern (a screen's moiré: `texture`) is a spoof (`texture_decides`, on by default; its samples
come with the frames the scale cue waits for anyway); with `context_decides` (off by default) a
face whose surrounding straight edges move with it (`context`) is a spoof, and at normal without
the parallax cue a fitting size waits up to `context_wait` frames for that evidence. The image
cues sample a face only while it is on the beam (when a sensor is seen) and until it is live.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from app.i18n import text

from .camera import CameraModel, eye_distance_px
from .context import APART, RIGID, ContextEvidence, ContextTracker, context_cue
from .parallax import DEPTH as PARALLAX_DEPTH, ParallaxEvidence, parallax_cue, parallax_sample
from .texture import PERIODIC, TextureEvidence, periodic_peak, texture_cue
from .cues import CONSISTENT, DEPTH, INCONSISTENT, PlanarityEvidence, ScaleEvidence, planarity_cue, scale_cue

OFF, NORMAL, STRICT = "off", "normal", "strict"
LEVELS = (OFF, NORMAL, STRICT)
CHECKING, CHALLENGE, LIVE, SPOOF = "checking", "challenge", "live", "spoof"

# The states and reasons the screen speaks about; each one's text is ``liveness.<name>`` in app/i18n.
# A checking face hints by its reason (too_close, off_centre), else nothing; live says nothing.
HINTS = (CHALLENGE, "too_close", "off_centre", SPOOF)


@dataclass(frozen=True)
class LivenessPolicy:
    level: str = NORMAL
    eye_mm_range: tuple[float, float] = (49.0, 80.0)
    min_frames: int = 3               # frames of fitting size before live
    window: int = 25                  # frames the planarity cue looks back over
    planarity_min_frames: int = 12
    depth_threshold: float = 0.011   # rank-2 residual (eye distances) that counts as depth
    flat_depth: float = 0.005        # below this a tilted face is a plane
    turn_threshold: float = 0.015    # anisotropy spread of a plane that visibly tilted
    min_distance_mm: float = 350.0   # strict: depth only counts this far from the camera or farther
    challenge_after: int = 15         # strict: frames without depth before asking to turn
    challenge_frames: int = 75        # strict: frames allowed to answer the challenge
    # periodic texture (`texture`): a screen's moire or a print's halftone in the face region
    texture_decides: bool = True
    texture_threshold: float = 3.5    # median peak (natural-log power excess) of a periodic pattern
    texture_samples: int = 3          # frames of the median
    # rigid context (`context`): measured whenever frames are given; decides only when enabled
    context_decides: bool = False
    context_rigid_share: float = 0.8  # median share of edge points moving with the face: a held picture
    context_apart_share: float = 0.3  # at most this share: the surroundings stayed (live)
    context_min_samples: int = 3
    context_wait: int = 8             # frames a fitting size waits for the context to decide
    # parallax inside the face (`parallax`): a head's depth must be seen before the face is live
    parallax_decides: bool = True
    parallax_threshold: float = 0.0035  # the nose's shift off the rest's homography (eye distances): depth
    parallax_needed: int = 2           # samples that must reach it
    parallax_window: int = 4           # among the last this many samples (noise spikes are isolated)
    parallax_gap: int = 3              # frames between the two views of a sample
    depth_wait: int = 12               # frames a ready face waits for depth before it is asked to turn

    @classmethod
    def for_level(cls, level: str, **overrides) -> "LivenessPolicy":
        if level not in LEVELS:
            raise ValueError(f"unknown liveness level {level!r} (one of {', '.join(LEVELS)})")
        base = {"level": level}
        if level == STRICT:
            base.update(eye_mm_range=(53.0, 75.0), min_frames=6, parallax_needed=3, parallax_window=5)
        base.update(overrides)
        return cls(**base)


@dataclass(frozen=True)
class LivenessResult:
    state: str
    reason: str            # off / scale / size_fits / no_sensor / depth / too_close / off_centre / challenge / challenge_timeout / waiting
    frames: int
    scale: ScaleEvidence | None = None
    planarity: PlanarityEvidence | None = None
    context: ContextEvidence | None = None
    texture: TextureEvidence | None = None
    parallax: ParallaxEvidence | None = None

    @property
    def passed(self) -> bool:
        return self.state == LIVE

    def message(self, language: str = "zh_CN") -> str:
        """What the screen says about this face ("" = nothing)."""
        name = self.reason if self.state == CHECKING and self.reason in HINTS else self.state
        return text(f"liveness.{name}", language) if name in HINTS else ""

    def as_dict(self) -> dict:
        return {"state": self.state, "reason": self.reason, "frames": self.frames,
                "scale": self.scale.as_dict() if self.scale else None,
                "planarity": self.planarity.as_dict() if self.planarity else None,
                "context": self.context.as_dict() if self.context else None,
                "texture": self.texture.as_dict() if self.texture else None,
                "parallax": self.parallax.as_dict() if self.parallax else None}


def on_beam(landmarks: np.ndarray, camera: CameraModel) -> bool:
    """Is the face where the TOF beam points (the camera axis: the frame centre)?

    The face region is taken as the eye-nose centre +- 1.3 eye distances across and 1.6 down/up
    (about the detector's box): the beam's spot must fall on it.
    """
    p = np.asarray(landmarks, np.float64).reshape(5, 2)
    eye = max(eye_distance_px(p), 1.0)
    dx, dy = p.mean(axis=0) - np.array([camera.width / 2, camera.height / 2])
    return abs(dx) <= 1.3 * eye and abs(dy) <= 1.6 * eye


def _grey(gray):
    return gray() if callable(gray) else gray


class TrackLiveness:
    """Accumulates one track's landmarks and distances; `update` gives the decision so far."""

    def __init__(self, policy: LivenessPolicy, camera: CameraModel):
        self.policy = policy
        self.camera = camera
        self.landmarks: deque = deque(maxlen=policy.window)
        self.distances: deque = deque(maxlen=policy.window)
        self.frames = 0
        self.depth_seen = False
        self.sensor_seen = False
        self.on_beam = True
        self.context = ContextTracker()
        self.peaks: deque = deque(maxlen=policy.texture_samples)
        self.views: deque = deque(maxlen=policy.parallax_gap + 1)   # (grey frame, landmarks) for parallax
        self.residuals: deque = deque(maxlen=max(policy.parallax_window, policy.parallax_needed))
        self.ready_at: int | None = None   # first frame the size fitted (or no sensor): the wait for depth starts
        self.images_seen = False   # frames were given: the parallax cue can run (else it abstains)
        self.result = LivenessResult(CHECKING, "waiting", 0)

    def update(self, landmarks: np.ndarray, distance_mm: float | None,
               sensor_present: bool | None = None, gray: np.ndarray | None = None) -> LivenessResult:
        """One view of the face. `distance_mm`: the TOF reading (None = none for this face);
        `sensor_present` (default: a reading was given): a sensor is reading, even if not this
        face (another face is in front of it): then the scale cue cannot be skipped. `gray`: the
        frame in grey, or a callable giving it on first use (for the image cues; None: they abstain)."""
        p = self.policy
        self.frames += 1
        if p.level == OFF:
            self.result = LivenessResult(LIVE, "off", self.frames)
            return self.result
        marks = np.asarray(landmarks, np.float64).reshape(5, 2)
        self.sensor_seen |= distance_mm is not None if sensor_present is None else bool(sensor_present)
        # the beam measures whatever is on the camera axis: a reading belongs to a face only when
        # the face is there (else a small picture held off-axis would borrow the holder's distance)
        self.on_beam = on_beam(marks, self.camera)
        self.landmarks.append(marks)
        self.distances.append(distance_mm if self.on_beam else None)
        if self.result.state == SPOOF:   # sticky
            r = self.result
            self.result = LivenessResult(SPOOF, r.reason, self.frames, r.scale, r.planarity, r.context,
                                         r.texture, r.parallax)
            return self.result
        # the image cues gather evidence until the face first passes (then the card may show:
        # later frames change nothing, and the terminal's CPU is spared)
        judging = gray is not None and self.result.state != LIVE
        self.images_seen |= gray is not None
        if judging and p.context_decides:
            self.context.add(_grey(gray), marks)
        # with a sensor, a face off the beam cannot pass yet: its texture is sampled once it is on
        # the beam, with the readings the scale cue waits for (a walk-in costs no FFTs)
        image = functools.cache(lambda: _grey(gray))   # made once, and only if a cue samples
        if judging and p.texture_decides and (self.on_beam or not self.sensor_seen):
            peak = periodic_peak(image(), marks)
            if peak is not None:
                self.peaks.append(peak)
        # a head's depth shows wherever the face is: sampled from the walk-in on, so that the
        # evidence is there when the face reaches the beam; once seen, no more samples are needed
        if judging and p.parallax_decides and not self.depth_seen:
            self._sample_parallax(image(), marks)
        parallax = parallax_cue(self.residuals, p.parallax_threshold, p.parallax_needed, p.parallax_window)
        texture = texture_cue(list(self.peaks), p.texture_threshold, p.texture_samples)
        context = context_cue(self.context.shares, p.context_rigid_share, p.context_apart_share,
                              p.context_min_samples)
        marks = np.stack(self.landmarks)
        scale = scale_cue(marks, list(self.distances), self.camera, p.eye_mm_range, p.min_frames)
        plane = planarity_cue(marks, p.planarity_min_frames, p.depth_threshold, p.turn_threshold, p.flat_depth)
        if self._by_parallax():
            self.depth_seen |= parallax.verdict == PARALLAX_DEPTH
        elif plane.verdict == DEPTH and self._far_enough():
            self.depth_seen = True
        state, reason = self._decide(scale, plane, context, texture)
        self.result = LivenessResult(state, reason, self.frames, scale, plane, context, texture, parallax)
        return self.result

    def _sample_parallax(self, gray: np.ndarray, marks: np.ndarray) -> None:
        """Pair this view with the oldest kept (up to `parallax_gap` frames back)."""
        if self.views and self.views[0][0].shape != gray.shape:
            self.views.clear()   # the camera's mode changed
        self.views.append((gray, marks))
        if len(self.views) >= 2:
            sample = parallax_sample(self.views[0][0], gray, self.views[0][1], marks)
            if sample is not None:
                self.residuals.append(sample.residual)

    def _by_parallax(self) -> bool:
        """The parallax cue decides depth when enabled and given the frames; without frames
        (landmarks only) the landmark rules below apply."""
        return self.policy.parallax_decides and self.images_seen

    def _far_enough(self) -> bool:
        near = [d for d in self.distances if d]
        return bool(near) and float(np.median(near)) >= self.policy.min_distance_mm

    def _decide(self, scale: ScaleEvidence, plane: PlanarityEvidence, context: ContextEvidence,
                texture: TextureEvidence) -> tuple[str, str]:
        p = self.policy
        if scale.verdict == INCONSISTENT:
            return SPOOF, "scale"
        if texture.verdict == PERIODIC:
            return SPOOF, "texture"
        if p.context_decides and context.verdict == RIGID:
            return SPOOF, "context"
        no_sensor = self.frames >= p.min_frames and not self.sensor_seen
        if self._by_parallax():
            return self._decide_by_depth(scale, no_sensor)
        if p.level == NORMAL:
            if scale.verdict == CONSISTENT:
                if not p.context_decides or context.verdict == APART or self.frames >= p.context_wait:
                    return LIVE, "size_fits"
                return CHECKING, "waiting"
            if no_sensor:
                return LIVE, "no_sensor"    # the scale cue abstains: nothing is caught
            return CHECKING, "waiting" if self.on_beam else "off_centre"
        # strict: a fitting size and depth seen far enough from the camera
        if no_sensor:
            return CHECKING, "no_sensor"
        if not self.on_beam and scale.verdict != CONSISTENT:
            return CHECKING, "off_centre"
        if scale.verdict == CONSISTENT and self.depth_seen:
            return LIVE, "depth"
        if self.frames >= p.challenge_after + p.challenge_frames:
            return SPOOF, "challenge_timeout"
        if scale.verdict == CONSISTENT and not self._far_enough():
            return CHECKING, "too_close"
        if self.frames >= p.challenge_after:
            return CHALLENGE, "challenge"
        return CHECKING, "waiting"

    def _decide_by_depth(self, scale: ScaleEvidence, no_sensor: bool) -> tuple[str, str]:
        """With the parallax cue: a face is live once its size fits (normal: or no sensor is
        fitted) and a head's depth was seen; a ready face that shows none for `depth_wait`
        frames is asked to turn, and after `challenge_frames` more it is a spoof."""
        p = self.policy
        if no_sensor and p.level == STRICT:
            return CHECKING, "no_sensor"   # strict needs a reading
        ready = scale.verdict == CONSISTENT or no_sensor
        if not ready:
            return CHECKING, "waiting" if self.on_beam else "off_centre"
        if self.ready_at is None:
            self.ready_at = self.frames
        if self.depth_seen and self.frames >= p.min_frames:
            return LIVE, "depth"
        waited = self.frames - self.ready_at
        if waited >= p.depth_wait + p.challenge_frames:
            return SPOOF, "challenge_timeout"
        if waited >= p.depth_wait:
            return CHALLENGE, "challenge"
        return CHECKING, "waiting"


class LivenessMonitor:
    """Liveness for every track of a pipeline: one `TrackLiveness` per track id.

    The TOF distance belongs to the face in front of the sensor: the largest face (the sensor's
    beam is on the camera axis, and the person using the terminal is the nearest). Other faces
    get no distance: their scale cue abstains.
    """

    def __init__(self, policy: LivenessPolicy, camera_focal_px_at_640: float = 0.0, sensor_fitted: bool = False):
        self.policy = policy
        self.focal_px_at_640 = camera_focal_px_at_640
        # fitted: a frame without a reading means nothing was measured (the beam absorbed or
        # deflected by what is held up), never "no sensor": the scale cue cannot be skipped
        self.sensor_fitted = sensor_fitted
        self._tracks: dict[int, TrackLiveness] = {}
        self._camera: CameraModel | None = None

    def camera_for(self, width: int, height: int) -> CameraModel:
        if self._camera is None or (self._camera.width, self._camera.height) != (width, height):
            self._camera = CameraModel.for_frame(width, height, self.focal_px_at_640)
        return self._camera

    def update(self, frame_shape, tracks, distance_mm: float | None, usable=None,
               frame: np.ndarray | None = None) -> dict[int, LivenessResult]:
        """tracks: objects with `.id`, `.landmarks`, `.width` and `.missed`; returns {id: result}.

        `usable` (one bool per track): views good enough to judge (the quality check passed); a
        face half out of the frame or turned away gives landmarks that would mislead the cues.
        `frame` (BGR or grey): for the rigid-context cue (None: it abstains).
        """
        camera = self.camera_for(frame_shape[1], frame_shape[0])
        gray = None
        uses_frames = self.policy.context_decides or self.policy.texture_decides or self.policy.parallax_decides
        if frame is not None and uses_frames and self.policy.level != OFF and tracks:
            # converted once, and only if a track still judging asks for it (most frames none)
            gray = functools.cache(lambda: frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        live_ids = {t.id for t in tracks}
        for gone in set(self._tracks) - live_ids:
            del self._tracks[gone]
        nearest = max(tracks, key=lambda t: t.width).id if tracks else None
        out = {}
        for i, t in enumerate(tracks):
            state = self._tracks.get(t.id)
            if state is None:
                state = self._tracks[t.id] = TrackLiveness(self.policy, camera)
            # followed without a detection (the landmarks may be on nothing), or a poor view
            if t.missed or (usable is not None and not usable[i]):
                out[t.id] = state.result
                continue
            out[t.id] = state.update(t.landmarks, distance_mm if t.id == nearest else None,
                                     sensor_present=self.sensor_fitted or distance_mm is not None, gray=gray)
        return out

    def reset(self) -> None:
        self._tracks.clear()

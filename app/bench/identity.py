"""`daka bench pipeline`, identity part: is a shown name (or a confirm card) ever someone else's?

Staged clips (app/bench/clip.py `StagedClip`, heads with depth from the face_recognition sdist's
photos) replayed in real time as the time-to-identity replay does (a latest-frame slot: each
system takes the newest frame whenever it is free), for ours and for the face_recognition
baseline (README webcam way):
- **queue**: A walks up and stands; A steps aside while B, who stood behind A, steps into the same
  spot within 0.3 s; B stands, leaves. Two variants: B enrolled, B not enrolled;
- **cut**: A stands; in one frame the picture cuts to another room with B at A's position and size;
- **swap**: A and B stand side by side, swap places (A passing in front), stand again.

Per clip and system:
- `wrong_identity_frames`: processed frames where a name is shown on a box whose face is another
  person's (the person under a box: whose visible face fills most of it, `person_under`);
  `stray_name_frames`: frames where a name is shown on a box with no face under it (a box left
  behind by a face that moved on or left: the baseline redraws the last boxes on the frames it
  skips); on the development video, a name of someone not in the shot counts as wrong identity;
- `cards_offered` / `wrong_cards`: the clock-in flow (app/kiosk/flow.py, default times, nobody
  taps) driven by the system's results: cards offered, and offered while the face under the
  card's track was not the card's person; `wrong_card_frames`: frames on which a card was up
  while its face (the track's box, or where it last was) was not the card's person;
- `delays_ms`: for each person who takes a new place (B in the spot, both after the swap), from
  the first frame their face is fully in view there to the first result that shows, on their
  face, their own name or 未识别 (`decided`), and their own name (`named`, enrolled people only).

The baseline has no tracks: its boxes of one processed frame are matched to the previous ones by
overlap (the flow needs track ids), as a terminal built on the README example would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from app import native
from app.bench.clip import Part, StagedClip, find_actor, person_under
from app.devdata import registry_face_images
from app.kiosk.flow import CONFIRM, ClockInFlow, VisionUpdate
from app.services.events import StaffCard
from app.vision.decision import Recognition
from app.vision.pipeline import TrackView
from app.vision.quality import Quality
from app.vision.tracking import FaceTracker

UNKNOWN_REASONS = ("below_threshold", "low_margin", "empty_gallery")   # what the live view labels 未识别


@dataclass
class IdentityScene:
    name: str
    clip: StagedClip
    frames: list
    enrol: dict              # name -> [BGR photos]
    arrivals: list           # (person, frame from which they are fully in view at their new place)
    description: str


@dataclass(frozen=True)
class Seen:
    """One box a system shows on one frame."""

    box: tuple
    name: str | None         # the name shown, if any
    unknown: bool            # labelled 未识别 / Unknown
    view: object             # the TrackView given to the flow


@dataclass
class Tally:
    processed: int = 0
    wrong_identity_frames: int = 0
    stray_name_frames: int = 0
    wrong_names: int = 0
    right_names: int = 0
    cards_offered: int = 0
    wrong_cards: int = 0
    wrong_card_frames: int = 0
    withdrawn: int = 0
    wrong_examples: list = field(default_factory=list)


def arrival(clip: StagedClip, person: str, after: int) -> int:
    """The first frame from `after` on where `person`'s face is fully in view."""
    for k in range(after, len(clip)):
        if clip.visible(k, person) >= 0.99:
            return k
    raise ValueError(f"{person} is never fully in view after frame {after}")


def scenes(detector, landmarks, photos: dict) -> list[IdentityScene]:
    """The staged clips (1280x720, 25 fps); `photos` the sdist's BGR images by file name."""
    a = find_actor("obama", photos["obama2.jpg"], detector, landmarks)
    b = find_actor("biden", photos["biden.jpg"], detector, landmarks)
    both = {"obama": [photos["obama.jpg"]], "biden": [photos["biden.jpg"]]}
    y, w = 324.0, 240.0
    out = []

    # (a) a queue: B waits hidden behind A (smaller: farther), A steps aside to the left in 6
    # frames while B steps forward into the spot (at full size 7 frames = 0.28 s after A moved)
    queue = StagedClip([
        Part(a, ((0, -150, y, 170), (20, 640, y, w), (70, 640, y, w), (76, 250, y, w), (82, -200, y, w)), depth=1),
        Part(b, ((20, 640, y - 6, 200), (70, 640, y - 6, 200), (77, 640, y, w), (150, 640, y, w),
                 (160, 1500, y, w)), depth=0),
    ])
    for variant, enrol in (("queue", both), ("queue_unenrolled", {"obama": both["obama"]})):
        out.append(IdentityScene(variant, queue, [], enrol, [("biden", arrival(queue, "biden", 70))],
                                 "A (obama2) walks up and stands 2 s; steps aside while B (biden), hidden "
                                 "behind A, steps into the same spot within 0.28 s; B stands 3 s, leaves; "
                                 + ("both enrolled" if variant == "queue" else "B not enrolled")))

    # (b) a cut: A stands; from one frame to the next another room, B at A's place and size
    cut = StagedClip([
        Part(a, ((0, -150, y, 170), (20, 640, y, w), (69, 640, y, w))),
        Part(b, ((70, 640, y, w), (145, 640, y, w), (155, 1500, y, w))),
    ], cut_at=70)
    out.append(IdentityScene("cut", cut, [], both, [("biden", 70)],
                             "A (obama2) walks up and stands 2 s; a cut to another room with B (biden) "
                             "at the same position and size; B stands 3 s, leaves; both enrolled"))

    # (c) side by side, then swapping places in 0.6 s (A passes in front of B)
    wa = wb = 200.0
    swap = StagedClip([
        Part(a, ((0, -150, y, 150), (20, 420, y, wa), (60, 420, y, wa), (75, 860, y, wa), (140, 860, y, wa),
                 (150, 1500, y, wa)), depth=1),
        Part(b, ((0, 1430, y, 150), (20, 860, y, wb), (60, 860, y, wb), (75, 420, y, wb), (140, 420, y, wb),
                 (150, -300, y, wb)), depth=0),
    ])
    out.append(IdentityScene("swap", swap, [], both,
                             [("obama", arrival(swap, "obama", 61)), ("biden", arrival(swap, "biden", 61))],
                             "A (obama2) and B (biden) walk up side by side and stand 1.6 s; they swap "
                             "places in 0.6 s, A passing in front; stand 2.6 s, leave; both enrolled"))
    return out


# --- what each system shows ------------------------------------------------------------------------


def ours_seen(system, frame) -> tuple[list[Seen], dict]:
    """Ours (`app.bench.pipeline.Ours`): the live view's boxes and labels, and the cards."""
    result = system.pipeline.process(frame)
    seen = []
    for v in result.tracks:
        name = system.names.get(v.staff_id) if v.staff_id is not None else None
        unknown = name is None and v.recognition is not None and v.recognition.reason in UNKNOWN_REASONS
        seen.append(Seen(v.box, name, unknown, v))
    cards = {s: StaffCard(s, f"S{s}", n) for s, n in system.names.items()}
    return seen, cards


class BaselineViews:
    """The baseline's boxes as flow tracks: matched to the last processed frame's by overlap."""

    def __init__(self, baseline):
        self.baseline = baseline
        self.tracker = FaceTracker(min_iou=0.3, max_missed=0)
        self.staff = {n: i for i, n in enumerate(sorted(set(baseline.known_names)), start=1)}
        self._frame = -1
        self._views: list[Seen] = []

    def reset(self):
        self.baseline.reset()
        self.tracker = FaceTracker(min_iou=0.3, max_missed=0)
        self._frame, self._views = -1, []

    def seen(self, frame) -> tuple[list[Seen], dict]:
        ran = self.baseline.process_this_frame
        names = self.baseline.process(frame)
        boxes = np.array([[4 * left, 4 * top, 4 * right, 4 * bottom]
                          for top, right, bottom, left in self.baseline.locations], np.float64).reshape(-1, 4)
        if ran:   # a new detection: match it to the tracks (on the other frames the README redraws the last)
            self._frame += 1
            self.tracker.update(self._frame, boxes, np.zeros((len(boxes), 5, 2), np.float32))
            ok = Quality(True, None, 1.0, 0.0, True, 0.0, 0.0, 0.0, 128.0, 40.0, 100.0)
            self._views = []
            for box, name in zip(boxes, names):
                track = next(t for t in self.tracker.tracks if np.array_equal(t.box, box))
                staff = self.staff.get(name)
                rec = Recognition(staff, staff, 1.0, 1.0, 1, 1, "accepted" if staff else "below_threshold")
                view = TrackView(track.id, tuple(box), np.zeros((5, 2), np.float32), ok, rec, True, track.first_frame)
                self._views.append(Seen(tuple(box), name, name is None, view))
        cards = {i: StaffCard(i, f"S{i}", n) for n, i in self.staff.items()}
        return list(self._views), cards


# --- the replay ------------------------------------------------------------------------------------


class StagedJudge:
    """Right or wrong on a staged clip: the truth says whose face is under each box."""

    has_truth = True   # a face under every box is known

    def __init__(self, clip: StagedClip, arrivals):
        self.clip, self.arrivals = clip, dict(arrivals)

    def frame(self, k: int) -> None:
        self._faces = self.clip.faces(k)

    def who(self, box) -> str | None:
        return person_under(box, self._faces, self.clip.width, self.clip.height)

    def wrong(self, box, name: str) -> bool:
        return name != self.who(box)

    def arrived(self, k: int, box) -> tuple[str | None, str | None]:
        """(the arrival this box shows, the name that is right there) — (None, None) if none."""
        who = self.who(box)
        start = self.arrivals.get(who)
        return (who, who) if start is not None and k >= start else (None, None)


class ShotJudge:
    """Right or wrong on a video with no per-face truth: who may be named in each shot (hand-made
    from looking at the frames). A name of someone not in the shot is wrong; an arrival is a
    shot's first frame (a cut), answered by a shot's own name or 未识别 on any face."""

    has_truth = False  # a wrong name is anyone's not in the shot

    def __init__(self, shots):
        self.shots = shots      # [(first frame, end frame, {names in the shot})]
        self.arrivals = {f"cut@{a}": a for a, _, _ in shots[1:]}

    def frame(self, k: int) -> None:
        self._shot = next(s for s in self.shots if s[0] <= k < s[1])

    def who(self, box) -> str | None:
        return None

    def wrong(self, box, name: str) -> bool:
        return name not in self._shot[2]

    def arrived(self, k: int, box) -> tuple[str | None, str | None]:
        first, _, names = self._shot
        key = f"cut@{first}"
        return (key, next(iter(names), None)) if key in self.arrivals and len(names) <= 1 else (None, None)


def identity_replay(seen_of, reset, frames, fps: float, judge, enrolled=(), cost_s: float | None = None) -> dict:
    """Replay `frames` in real time through `seen_of(frame) -> (seen, cards)`; the tallies above.

    The replay clock advances by each call's measured time, or by `cost_s` a call when given (a
    machine of known speed: what a test checks then does not depend on the load on this one).
    """
    reset()
    period = 1.0 / fps
    flow = ClockInFlow()
    flow.tick(0.0)
    tally = Tally()
    decided: dict[str, float] = {}
    named: dict[str, float] = {}
    clock, last, n = 0.0, -1, len(frames)
    last_pending = None
    while True:
        newest = min(n - 1, int(clock / period + 1e-9))
        if newest <= last:
            if newest == n - 1:
                break
            clock = (last + 1) * period
            continue
        t0 = time.perf_counter()
        seen, cards = seen_of(frames[newest])
        clock += time.perf_counter() - t0 if cost_s is None else cost_s
        last = newest
        tally.processed += 1
        judge.frame(newest)
        shown = [(s.name, judge.who(s.box)) for s in seen if s.name is not None and judge.wrong(s.box, s.name)]
        wrong = [(a, b) for a, b in shown if b is not None or not judge.has_truth]
        tally.right_names += sum(1 for s in seen if s.name is not None) - len(shown)
        tally.wrong_names += len(wrong)
        tally.stray_name_frames += len(wrong) < len(shown)
        if wrong:
            tally.wrong_identity_frames += 1
            if len(tally.wrong_examples) < 5:
                tally.wrong_examples.append({"frame": newest, "shown_on": [{"name": a, "face": b} for a, b in wrong]})
        for s in seen:
            key, right = judge.arrived(newest, s.box)
            if key is None:
                continue
            since = clock - judge.arrivals[key] * period
            if s.name is not None and s.name == right:
                named.setdefault(key, since)
            if (s.name is not None and s.name == right) or s.unknown:
                decided.setdefault(key, since)
        # the clock-in flow, as the kiosk drives it (no taps)
        flow.vision(VisionUpdate(SimpleNamespace(tracks=[s.view for s in seen]), cards), clock)
        flow.tick(clock)
        pending = flow.pending if flow.screen == CONFIRM else None
        if pending is not None:
            here = next((s for s in seen if s.view.track_id == pending.track_id), None)
            bad = judge.wrong(here.box if here else pending.box, pending.card.name)
            if pending is not last_pending:
                tally.cards_offered += 1
                tally.wrong_cards += bad
            tally.wrong_card_frames += bad
        last_pending = pending
    tally.withdrawn = getattr(flow, "withdrawn", 0)   # (0 for a flow from before withdrawing)
    out = {k: v for k, v in vars(tally).items() if k != "wrong_examples" or v}
    out["delays_ms"] = {key: {"decided": _ms(decided.get(key)),
                              "named": _ms(named.get(key)) if key in enrolled else None}
                        for key in judge.arrivals}
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def run_identity(models, config, systems: dict, log=None) -> dict:
    """Every staged scene through every system: {scene: {"description", system key: tallies}}.

    `systems` maps a key ("ours", "baseline") to a factory(enrol) -> (seen_of, reset).
    """
    photos = {n: cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR) for n, p in registry_face_images().items()}
    detector = native.FaceDetector()
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    out: dict = {}
    rendered: dict[int, list] = {}
    for scene in scenes(detector, landmarks, photos):
        key = id(scene.clip)
        if key not in rendered:
            if log:
                log(f"bench: identity: rendering the {scene.name} clip ({len(scene.clip)} frames) …")
            rendered[key] = list(scene.clip)
        scene.frames = rendered[key]
        entry: dict = {"description": scene.description, "frames": len(scene.frames)}
        for name, factory in systems.items():
            if log:
                log(f"bench: identity: {scene.name}: {name} …")
            seen_of, reset = factory(scene.enrol)
            entry[name] = identity_replay(seen_of, reset, scene.frames, scene.clip.fps,
                                          StagedJudge(scene.clip, scene.arrivals), enrolled=set(scene.enrol))
        out[scene.name] = entry
    return out


# The development video (../shared/data/extras/video, third-party: never committed): its shots,
# found as cuts by the pipeline's own rule and checked by eye, and who may be named in each.
DEVELOPMENT_VIDEO = "short_hamilton_clip.mp4"
DEVELOPMENT_SHOTS = [
    (0, 20, {"lin_manuel_miranda", "alex_lacamoire"}),   # the stage from afar: the performer, the pianist
    (20, 82, {"alex_lacamoire"}),                        # the pianist in profile, the audience blurred behind
    (82, 211, {"lin_manuel_miranda"}),                   # the performer close up
    (211, 275, set()),                                   # the audience: nobody enrolled
]


def development_video() -> tuple[Path, list[Path]] | None:
    """(the video, its enrolment folders) when the shared development data is present."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "extras" / "video"
    video, enrol = root / DEVELOPMENT_VIDEO, root / "enrol"
    if not video.is_file() or not enrol.is_dir():
        return None
    return video, [enrol]


def run_video_identity(video_path, enrol_dirs, systems: dict, log=None) -> dict | None:
    """The identity replay on the development video (None for another video: no shot table)."""
    from app.bench.pipeline import video_scene  # lazy: app.bench.pipeline imports this module

    if Path(video_path).name != DEVELOPMENT_VIDEO:
        return None
    scene = video_scene(str(video_path), [str(d) for d in enrol_dirs])
    if len(scene.frames) != DEVELOPMENT_SHOTS[-1][1]:
        raise ValueError(f"{video_path}: {len(scene.frames)} frames, the shot table is for {DEVELOPMENT_SHOTS[-1][1]}")
    entry: dict = {"description": f"{Path(video_path).name}: cuts at frames "
                                  f"{', '.join(str(a) for a, _, _ in DEVELOPMENT_SHOTS[1:])}; who may be named per "
                                  f"shot: {[sorted(n) for _, _, n in DEVELOPMENT_SHOTS]}",
                   "frames": len(scene.frames)}
    enrolled = {f"cut@{a}" for a, _, names in DEVELOPMENT_SHOTS[1:] if names}
    for name, factory in systems.items():
        if log:
            log(f"bench: identity: development video: {name} …")
        seen_of, reset = factory(scene.enrol)
        entry[name] = identity_replay(seen_of, reset, scene.frames, scene.fps, ShotJudge(DEVELOPMENT_SHOTS), enrolled)
    return entry

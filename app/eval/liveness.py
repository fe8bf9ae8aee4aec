"""`daka eval liveness`: APCER and BPCER (ISO/IEC 30107-3) of the liveness decision, per level.

- Attacks: face photos from the LFW-layout folder rendered by `AttackGenerator` (flat prints and
  phone/tablet screens moving rigidly in front of a simulated IMX219 camera at 640x480, at
  plausible and implausible distances, with print and screen artefacts). Every frame goes
  through the terminal's detector and 5-point landmark model; the decision sees the detected
  landmarks and the simulated TOF readings. An attack counts as accepted (APCER) when any frame
  of it reaches ``live``: the confirm card would show. Attacks the detector never finds are
  reported apart (not accepted, not classified).
- Bona fide: `LiveFaceRenderer` heads (real photos of identities the attacks did not use, on a
  generic 3D face surface; adult eye distances, approaching and swaying, a quarter nearly still)
  rendered in the same rooms with the same blur and noise as the attacks, through the same
  detector and landmark model, with a focal-length calibration error of up to ±3% and the TOF
  noise; rejected (BPCER) when no frame within the attempt reaches ``live`` (asked to turn the
  head, the person does half a second later). Also the real moving faces of the video clip
  (no distance sensor: the scale cue abstains) and the four still samples, one by one.
- The image cues: every attack frame is also given in grey (texture, context); bona fide for
  them are real images only: LFW photos of identities the attacks did not use, as stills
  (`--stills`), the clip's frames (context with the distance that fits the face), the samples.
  Rows: the three levels, `normal_no_parallax` (the normal level without the parallax cue, as
  before it) and `normal+context` (that, with the rigid-context cue deciding as well).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from app import native
from app.vision.liveness.camera import CameraModel, eye_distance_px
from app.vision.liveness.context import ContextTracker
from app.vision.liveness.cues import FACE_DEPTH_OFFSET_MM, planarity_measures
from app.vision.liveness.decision import CHALLENGE, LEVELS, LIVE, SPOOF, STRICT, LivenessPolicy, TrackLiveness
from app.vision.liveness.headrender import LiveFaceRenderer
from app.vision.liveness.texture import periodic_peak
from app.vision.liveness.synth import IMPLAUSIBLE, PLAUSIBLE, SPECIES, AttackGenerator

WIDTH, HEIGHT = 640, 480
NORMAL_CONTEXT = "normal+context"   # the normal level with the rigid-context cue deciding too
NORMAL_NO_PARALLAX = "normal_no_parallax"  # the normal level without the parallax cue (as before it)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _photos(faces_dir: Path, count: int, rng: np.random.Generator) -> list[Path]:
    people = sorted(p for p in faces_dir.iterdir() if p.is_dir())
    if not people:
        raise FileNotFoundError(f"no identity folders in {faces_dir}")
    picks = rng.choice(len(people), size=min(count, len(people)), replace=False)
    return [sorted(people[i].glob("*.jpg"))[0] for i in sorted(picks)]


class LandmarkReader:
    """The terminal's detector and 5-point model on one frame: the widest face's landmarks or None."""

    def __init__(self, models, min_face: int = 40):
        self.detector = native.FaceDetector()
        self.shapes = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
        self.min_face = min_face

    def read(self, image: np.ndarray, upsample: int = 0) -> np.ndarray | None:
        boxes, _, _ = self.detector.detect(image, downscale=1.0 if upsample else 0.0, upsample=upsample,
                                           min_face=0 if upsample else self.min_face, threads=1)
        if len(boxes) == 0:
            return None
        widest = boxes[[int(np.argmax(boxes[:, 2] - boxes[:, 0]))]]
        return self.shapes.predict(image, widest)[0].astype(np.float64)


REACTION_FRAMES = 12   # a person starts turning about half a second after the prompt appears


@dataclass
class Outcome:
    live_at: int | None = None        # first frame that reached live (the card would show)
    challenged_at: int | None = None  # first frame that asked to turn the head
    final: str = "checking"


def _decide(policy: LivenessPolicy, camera: CameraModel, landmarks, distances, grays=None) -> Outcome:
    """Run one sequence through a fresh track until it reaches live (`grays`: the frames in grey,
    for the rigid-context cue)."""
    track = TrackLiveness(policy, camera)
    out = Outcome()
    for k, (marks, d) in enumerate(zip(landmarks, distances)):
        if marks is None:
            continue
        gray = grays[k] if grays is not None else None
        out.final = track.update(marks, d, gray=gray).state
        if out.final == CHALLENGE and out.challenged_at is None:
            out.challenged_at = k
        if out.final == LIVE:
            out.live_at = k
            break
    return out


def _answer_turn(outcome: Outcome) -> int | None:
    return None if outcome.challenged_at is None else outcome.challenged_at + REACTION_FRAMES


def _non_affine_noise(detected: np.ndarray, truth: np.ndarray) -> float:
    """Landmark noise (eye distances): the part of detected - true that no affine map explains."""
    src = np.hstack([truth, np.ones((5, 1))])
    coef, *_ = np.linalg.lstsq(src, detected, rcond=None)
    residual = detected - src @ coef
    # 10 coordinates, 6 absorbed by the affine fit
    return float(np.sqrt((residual ** 2).sum() / 4) / np.sqrt(2) / eye_distance_px(truth))


def _rate(accepted: list[bool]) -> float | None:
    return None if not accepted else round(100.0 * sum(accepted) / len(accepted), 2)


def evaluate_attacks(models, faces_dir: Path, seed: int, per_cell: int, frames: int, camera: CameraModel,
                     policies: dict, cells_wanted=None) -> tuple[dict, float, list]:
    rng = np.random.default_rng(seed)
    reader = LandmarkReader(models)
    photos = _photos(faces_dir, per_cell * 4, rng)
    sources = []
    for path in photos:
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        marks = reader.read(image, upsample=1) if image is not None else None
        if marks is not None:
            sources.append((path, image, marks))
    generator = AttackGenerator(camera, seed=seed)
    cells, noise, planarity = {}, [], []
    k = 0
    for species in SPECIES:
        for mode in (PLAUSIBLE, IMPLAUSIBLE):
            if cells_wanted and f"{species}/{mode}" not in cells_wanted:
                continue
            accepted = {lvl: [] for lvl in policies}
            undetected, challenged = 0, {lvl: 0 for lvl in policies}
            for _ in range(per_cell):
                _, image, marks = sources[k % len(sources)]
                k += 1
                seed_k = int(rng.integers(2 ** 62))
                seq = generator.sequence(image, marks, species, mode, frames=frames, seed=seed_k)
                detected, _, grays = views = _views(reader, seq)
                found = [i for i, m in enumerate(detected) if m is not None]
                if len(found) < 3:
                    undetected += 1
                    continue
                noise.extend(_non_affine_noise(detected[i], seq.truth[i]) for i in found)
                planarity.append(planarity_measures(np.stack([detected[i] for i in found]))[0])
                longer = {}   # turn_from -> (landmarks, distances, grays) of the attack going on
                for lvl, policy in policies.items():
                    outcome = _decide(policy, camera, *views)
                    if outcome.live_at is None and outcome.final != SPOOF:
                        # undecided: the attacker goes on and, when asked, tilts the picture
                        turn = _answer_turn(outcome)
                        if turn not in longer:
                            longer[turn] = _views(reader, generator.sequence(
                                image, marks, species, mode, frames=_long_frames(policy), turn_from=turn, seed=seed_k))
                        challenged[lvl] += outcome.challenged_at is not None
                        outcome = _decide(policy, camera, *longer[turn])
                    accepted[lvl].append(outcome.live_at is not None)
            cells[f"{species}/{mode}"] = {
                "attacks": per_cell, "undetected": undetected, "challenged": challenged,
                "apcer_percent": {lvl: _rate(a) for lvl, a in accepted.items()},
                "eye_mm": list(SPECIES[species].eye_mm),
            }
            _log(f"eval liveness: {species}/{mode}: {cells[f'{species}/{mode}']['apcer_percent']}")
    return cells, float(np.median(noise)) if noise else 0.012, planarity


def _long_frames(policy: LivenessPolicy) -> int:
    """Frames for an attempt that is asked to turn the head: up to the challenge's timeout."""
    wait = policy.depth_wait if policy.parallax_decides else policy.challenge_after
    return policy.min_frames + wait + policy.challenge_frames + 5


def evaluate_live(models, faces_dir: Path, seed: int, count: int, frames: int, camera: CameraModel,
                  policies: dict, used: set, fps: float = 25.0) -> tuple[dict, list]:
    """Rendered live heads (`LiveFaceRenderer`: real photos of identities the attacks did not use
    on a 3D face surface, approaching and swaying, a quarter nearly still), through the detector
    and landmark model like the attacks; rejected (BPCER) when no frame of the attempt reaches
    live. Asked to turn the head, the person does half a second later."""
    rng = np.random.default_rng(seed + 1)
    reader = LandmarkReader(models)
    people = [p for p in sorted(d for d in faces_dir.iterdir() if d.is_dir()) if p.name not in used]
    picks = rng.choice(len(people), size=min(count, len(people)), replace=False)
    rejected = {lvl: [] for lvl in policies}
    to_live = {lvl: [] for lvl in policies}
    challenged = {lvl: 0 for lvl in policies}
    planarity, noise, attempts, never_found = [], [], 0, 0
    for n, i in enumerate(sorted(picks)):
        path = sorted(people[i].glob("*.jpg"))[0]
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        marks = reader.read(image, upsample=1) if image is not None else None
        if marks is None:
            continue
        # the device's true focal length differs from the configured one by the calibration error
        true_camera = CameraModel(camera.focal_px * rng.uniform(0.97, 1.03), camera.width, camera.height)
        renderer = LiveFaceRenderer(true_camera, fps=fps)
        still, seed_i = bool(n % 4 == 0), int(rng.integers(2 ** 62))
        try:
            seq = renderer.sequence(image, marks, frames, still=still, seed=seed_i)
        except ValueError as exc:          # the photo's landmarks are not a usable face
            _log(f"eval liveness: {path.name}: {exc}")
            continue
        attempts += 1
        views = _views(reader, seq)
        found = [k for k, m in enumerate(views[0]) if m is not None]
        never_found += not found   # rejected at every level, `off` included (the detector's miss)
        if len(found) >= 3:
            planarity.append(planarity_measures(np.stack([views[0][k] for k in found]))[0])
            noise.extend(float(np.hypot(*(views[0][k] - seq.truth[k]).T).mean() / eye_distance_px(seq.truth[k]))
                         for k in found)
        longer = {}
        for lvl, policy in policies.items():
            outcome = _decide(policy, camera, *views)
            if outcome.live_at is None and outcome.challenged_at is not None:
                challenged[lvl] += 1    # asked to turn: the person does, half a second later
                turn = _answer_turn(outcome)
                if turn not in longer:
                    longer[turn] = _views(reader, renderer.sequence(image, marks, _long_frames(policy), still=still,
                                                                    seed=seed_i, turn_from=turn))
                outcome = _decide(policy, camera, *longer[turn])
            rejected[lvl].append(outcome.live_at is None)
            if outcome.live_at is not None:
                to_live[lvl].append(1000.0 * outcome.live_at / fps)
    out = {"attempts": attempts, "never_detected": never_found, "frames": frames, "fps": fps, "still_share": 0.25,
           "landmark_error_eye_distances_median": round(float(np.median(noise)), 4) if noise else None,
           "challenged_percent": {lvl: round(100.0 * c / max(attempts, 1), 1) for lvl, c in challenged.items()},
           "bpcer_percent": {lvl: _rate(r) for lvl, r in rejected.items()},
           "ms_to_live_median": {lvl: (round(float(np.median(t)), 1) if t else None) for lvl, t in to_live.items()},
           "ms_to_live_p95": {lvl: (round(float(np.percentile(t, 95)), 1) if t else None) for lvl, t in to_live.items()}}
    return out, planarity


def _views(reader: LandmarkReader, seq) -> tuple[list, list, list]:
    """(detected landmarks, TOF readings, grey frames) of a rendered sequence."""
    return ([reader.read(f) for f in seq.frames], seq.distances_mm,
            [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in seq.frames])


def evaluate_video(models, video: Path, policies: dict, window: int = 25) -> dict:
    """The clip's faces (real, moving; no sensor): planarity per window and the decisions."""
    reader = LandmarkReader(models, min_face=60)
    capture = cv2.VideoCapture(str(video))
    marks, grays = [], []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        marks.append(reader.read(frame))
        grays.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    capture.release()
    camera = CameraModel.for_frame(grays[0].shape[1], grays[0].shape[0]) if grays else None
    runs, current = [], []
    for k, m in enumerate(marks + [None]):
        if m is not None and current and np.hypot(*(m.mean(0) - current[-1][1].mean(0))) > eye_distance_px(m):
            runs.append(current)   # the face jumped (a cut): a new attempt
            current = []
        if m is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((k, m))
    runs_frames = [[k for k, _ in r] for r in runs]
    runs = [[m for _, m in r] for r in runs]
    windows = [r[i:i + window] for r in runs for i in range(0, len(r) - window + 1, window)]
    depth = [planarity_measures(np.stack(w))[0] for w in windows]
    gray_windows = [[grays[k] for k in ks[i:i + window]] for ks in runs_frames
                    for i in range(0, len(ks) - window + 1, window)]
    decisions = {lvl: _rate([_decide(p, camera, w, [None] * len(w), g).live_at is not None
                             for w, g in zip(windows, gray_windows)])
                 for lvl, p in policies.items()}

    peaks = [periodic_peak(grays[k], m) for r, ks in zip(runs, runs_frames) for m, k in zip(r, ks)]
    peaks = [x for x in peaks if x is not None]
    # the rigid-context cue needs the frames and a fitting size: the distance a TOF sensor would
    # read for this face if it were a real adult's (eye distance 63 mm): bona fide by construction
    context = {}
    for lvl, p in policies.items():
        if not p.context_decides:
            continue
        accepted = []
        for r, ks in zip(runs, runs_frames):
            for i in range(0, len(r) - window + 1, window):
                w, kw = r[i:i + window], ks[i:i + window]
                fitting = [camera.focal_px * 63.0 / eye_distance_px(m) - FACE_DEPTH_OFFSET_MM for m in w]
                accepted.append(_decide(p, camera, w, fitting, [grays[k] for k in kw]).live_at is not None)
        tracker_shares = _video_context_shares(runs, runs_frames, grays)
        context[lvl] = {"windows": len(accepted), "bpcer_percent": _rate([not a for a in accepted]),
                        "pair_samples": len(tracker_shares),
                        "pair_samples_rigid_percent": _rate([s >= p.context_rigid_share for s in tracker_shares])}
    return {"video": video.name, "frames": len(marks), "frames_with_face": sum(m is not None for m in marks),
            "context_with_fitting_distance": context,
            "texture_peak_frames": len(peaks),
            "texture_peak_median": round(float(np.median(peaks)), 2) if peaks else None,
            "texture_peak_max": round(float(np.max(peaks)), 2) if peaks else None,
            "texture_frames_above_threshold_percent": _rate([x >= policies["normal"].texture_threshold for x in peaks]),
            "windows": len(windows), "window_frames": window,
            "planarity_depth_median": round(float(np.median(depth)), 4) if depth else None,
            "windows_with_depth_percent": _rate([d >= policies[STRICT].depth_threshold for d in depth]),
            "accepted_percent_without_sensor": decisions}


def _video_context_shares(runs, runs_frames, grays) -> list:
    """Every pair sample of the rigid-context cue along the clip's face runs."""
    shares = []
    for r, ks in zip(runs, runs_frames):
        tracker = ContextTracker()
        for m, k in zip(r, ks):
            sample = tracker.add(grays[k], m)
            if sample is not None:
                shares.append(sample.follow_share)
    return shares


def evaluate_samples(models, spoof_dir: Path, policies: dict) -> list:
    reader = LandmarkReader(models, min_face=0)
    out = []
    for path in sorted(spoof_dir.rglob("*.jpg")):
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        image = np.ascontiguousarray(rgb[:, :, ::-1])
        scale = 640.0 / max(image.shape[:2])
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        marks = reader.read(small)
        if marks is None:
            marks = reader.read(small, upsample=1)
        entry = {"file": str(path.relative_to(spoof_dir)), "label": path.parent.name, "exif_orientation": orientation,
                 "face_found": marks is not None}
        if marks is not None:
            entry["eye_px_at_640"] = round(eye_distance_px(marks), 1)
            camera = CameraModel.for_frame(small.shape[1], small.shape[0])
            # a still photograph: no distance reading, no motion
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            entry["texture_peak"] = _round(periodic_peak(gray, marks))
            entry["decision_without_sensor"] = {lvl: _state_after(p, camera, marks, gray) for lvl, p in policies.items()}
        out.append(entry)
    return out


def _state_after(policy, camera, marks, gray=None, frames: int = 10) -> str:
    track = TrackLiveness(policy, camera)
    for _ in range(frames):
        state = track.update(marks, None, gray=gray).state
    return state


def _round(x, digits: int = 2):
    return None if x is None else round(float(x), digits)


def evaluate_stills(models, faces_dir: Path, seed: int, count: int, used: set, policy: LivenessPolicy) -> dict:
    """Real face photos as stills (bona fide for the per-frame texture cue): identities the
    attacks did not use; a still is refused when its periodic peak reaches the threshold (the
    decision's median over frames of an unchanging picture is that peak)."""
    rng = np.random.default_rng(seed + 2)
    reader = LandmarkReader(models)
    people = [p for p in sorted(d for d in faces_dir.iterdir() if d.is_dir()) if p.name not in used]
    picks = rng.choice(len(people), size=min(count, len(people)), replace=False)
    peaks = []
    for i in sorted(picks):
        path = sorted(people[i].glob("*.jpg"))[0]
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        marks = reader.read(image, upsample=1) if image is not None else None
        if marks is not None:
            peak = periodic_peak(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), marks)
            if peak is not None:
                peaks.append(peak)
    return {"photos": int(len(picks)), "measured": len(peaks), "threshold": policy.texture_threshold,
            "bpcer_percent": _rate([x >= policy.texture_threshold for x in peaks]),
            "peak_median": _round(np.median(peaks)) if peaks else None,
            "peak_p99": _round(np.percentile(peaks, 99)) if peaks else None,
            "peak_max": _round(np.max(peaks)) if peaks else None}


def _auc(negatives: list, positives: list) -> float | None:
    """P(a live sequence's depth > an attack's): how well planarity alone separates them."""
    if not negatives or not positives:
        return None
    neg, pos = np.asarray(negatives), np.asarray(positives)
    return round(float(((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())), 3)


def evaluate_liveness(models, faces_dir: Path, extras_dir: Path | None, seed: int = 9, per_cell: int = 20,
                      frames: int = 25, live_count: int = 200, cells=None, stills: int = 300) -> dict:
    known = [f"{species}/{mode}" for species in SPECIES for mode in (PLAUSIBLE, IMPLAUSIBLE)]
    unknown = sorted(set(cells or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown attack cell(s) {', '.join(unknown)}; known: {', '.join(known)}")
    camera = CameraModel.for_frame(WIDTH, HEIGHT)
    policies = {lvl: LivenessPolicy.for_level(lvl) for lvl in LEVELS}
    policies[NORMAL_NO_PARALLAX] = LivenessPolicy.for_level("normal", parallax_decides=False)
    policies[NORMAL_CONTEXT] = LivenessPolicy.for_level("normal", parallax_decides=False, context_decides=True)
    _log(f"eval liveness: rendering {(len(cells) if cells else 8) * per_cell} attacks x {frames} frames …")
    cells, noise, attack_depth = evaluate_attacks(models, faces_dir, seed, per_cell, frames, camera, policies, cells)
    used = {p.parent.name for p in _photos(faces_dir, per_cell * 4, np.random.default_rng(seed))}
    _log(f"eval liveness: rendering {live_count} live heads …")
    live, live_depth = evaluate_live(models, faces_dir, seed, live_count, frames, camera, policies, used)
    overall = {}
    for lvl in policies:
        rates = [c["apcer_percent"][lvl] for c in cells.values() if c["apcer_percent"][lvl] is not None]
        overall[lvl] = {"apcer_percent_all_attacks": round(float(np.mean(rates)), 2) if rates else None,
                        "apcer_percent_worst_cell": max(rates) if rates else None,
                        "bpcer_percent": live["bpcer_percent"][lvl]}
    out = {"seed": seed, "camera": {"width": WIDTH, "height": HEIGHT, "focal_px": round(camera.focal_px, 1),
                                    "model": "IMX219, 77 deg diagonal"},
           "summary": overall, "attacks": cells, "attack_landmark_noise_eye_distances": round(noise, 4),
           "bona_fide_simulated": live,
           "planarity": {"attack_depth_median": round(float(np.median(attack_depth)), 4) if attack_depth else None,
                         "live_depth_median": round(float(np.median(live_depth)), 4),
                         "auc_live_above_attack": _auc(attack_depth, live_depth),
                         "used_in_decision": False}}
    if stills > 0:
        _log(f"eval liveness: {stills} real face photos as stills …")
        out["bona_fide_stills"] = evaluate_stills(models, faces_dir, seed, stills, used, policies["normal"])
    if extras_dir is not None:
        video = extras_dir / "video" / "short_hamilton_clip.mp4"
        if video.exists():
            _log("eval liveness: video clip …")
            out["bona_fide_video"] = evaluate_video(models, video, policies)
        spoof = extras_dir / "spoof"
        if spoof.exists():
            out["samples"] = evaluate_samples(models, spoof, policies)
    return out

"""Seedable synthetic presentations in front of a simulated camera (pinhole, TOF beam on its axis).

- `LiveHeadSimulator`: a real head as the 5 landmark points in 3D (average adult geometry, scaled
  per person to an eye distance drawn from the adult range), approaching and swaying the way a
  person does in front of a terminal, optionally turning when asked; yields the projected
  landmarks (with landmark noise) and TOF readings. Bona fide at the landmark level.
- `AttackGenerator`: a real face photo rendered as a flat print or a phone/tablet screen of its
  physical size (A4, a 10x15 photo, a phone, a tablet; the face anywhere on it) held rigidly in
  front of the camera (hand tremor and sway: small rotations and translations) against a varied
  room, at a plausible or implausible distance, with print artefacts (paper white, reduced
  dynamic range, margin; no halftone: see `_picture`) or screen artefacts (moiré at a random
  frequency, orientation and strength, gamma, glare, bezel); yields real frames for the detector
  and landmark model, the true landmark positions, and TOF readings of the picture.
- `FittingTof`: a TOF sensor in front of a live person, for benchmarks (the distance that fits
  the face the pipeline tracks).

Every sequence is drawn from its own seed (given, or drawn from the generator's seed): the same
seed gives the same sequence, and a longer sequence of the same seed starts with the same frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .camera import EYE_DISTANCE_MM, CameraModel

# Average adult 5-point landmarks in mm, head frame facing the camera: x as the camera's x, y down,
# z away from the camera (depth, as the camera's z); origin at the nose base. Points follow the 5-point model's order:
# 0-1 one eye (outer, inner corner), 2-3 the other eye (outer, inner), 4 the nose base.
# Inner eye corners ~32 mm apart, outer ~92 mm; the outer corners sit ~14 mm behind the inner
# ones; the nose base is ~40 mm below the eye line and ~12 mm in front of the inner corners.
FACE_POINTS_MM = np.array([
    [46.0, -38.0, 26.0],
    [16.0, -40.0, 12.0],
    [-46.0, -38.0, 26.0],
    [-16.0, -40.0, 12.0],
    [0.0, 0.0, 0.0],
])
# the head turns about a point ~90 mm behind the nose base (the neck)
HEAD_PIVOT_MM = np.array([0.0, 0.0, 90.0])
TOF_NOISE_MM = 8.0   # the sensor's repeatability at 0.3-1 m (about 1%)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation (radians): yaw about y, pitch about x, roll about z."""
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def project(points_cam: np.ndarray, camera: CameraModel) -> np.ndarray:
    """Pinhole projection of points (n, 3) in camera mm (z = distance from the camera) to pixels."""
    z = points_cam[:, 2:3]
    return camera.focal_px * points_cam[:, :2] / z + np.array([camera.width / 2, camera.height / 2])


def _streams(seed: int, count: int) -> list[np.random.Generator]:
    """Independent random streams for the parts of one sequence: a longer sequence of the same
    seed starts with the same frames (a challenge can be answered from a given frame on)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def _sway(rng: np.random.Generator, frames: int, fps: float, amplitude: float) -> np.ndarray:
    """A smooth random motion within +-amplitude: slow sinusoids (0.2-1.5 Hz) plus a little tremor."""
    t = np.arange(frames) / fps
    weights = rng.uniform(0.3, 1.0, 3)
    rates, phases = rng.uniform(0.2, 1.5, 3), rng.uniform(0, 2 * math.pi, 3)
    out = (weights[:, None] * np.sin(2 * math.pi * rates[:, None] * t + phases[:, None])).sum(axis=0)
    out *= 0.9 * amplitude / weights.sum()
    noise = rng.normal(0, 0.1 * amplitude, frames + 2)
    return out + (noise[:-2] + noise[1:-1] + noise[2:]) / 3


def _turn(frames: int, start: int, fps: float, degrees: float = 25.0, seconds: float = 1.5) -> np.ndarray:
    """Yaw (radians) of a slow turn to `degrees` over `seconds`, from frame `start` on."""
    t = np.clip((np.arange(frames) - start) / fps, 0, None)
    return math.radians(degrees) * np.sin(np.minimum(t / seconds, 1) * math.pi / 2)


@dataclass(frozen=True)
class HeadMotion:
    """A person's head over a sequence: distance of the nose base (mm), yaw/pitch/roll (radians)
    and lateral drift (mm, x and y) per frame."""

    distance: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    drift: np.ndarray


def head_motion(rng: np.random.Generator, motion: list, frames: int, fps: float, still: bool = False,
                distance_mm: tuple[float, float] | None = None) -> HeadMotion:
    """A person approaching (from 550-900 to 350-600 mm, or `distance_mm`) then facing the
    terminal, swaying 2-8° (`still`: 0.5-1.5°) about a slightly turned rest pose and drifting
    sideways; `motion`: five independent streams (yaw, pitch, roll, drift x, drift y)."""
    start, end = distance_mm or (rng.uniform(550, 900), rng.uniform(350, 600))
    approach = np.minimum(np.arange(frames) / max(1, rng.integers(10, 30)), 1.0)
    dist = start + (end - start) * (1 - (1 - approach) ** 2)
    amp = math.radians(rng.uniform(0.5, 1.5) if still else rng.uniform(2.0, 8.0))
    yaw = _sway(motion[0], frames, fps, amp) + math.radians(rng.uniform(-5, 5))
    pitch = _sway(motion[1], frames, fps, 0.7 * amp) + math.radians(rng.uniform(-5, 5))
    roll = _sway(motion[2], frames, fps, 0.4 * amp)
    drift = np.stack([_sway(motion[3 + i], frames, fps, rng.uniform(5, 25)) for i in range(2)], axis=1)
    return HeadMotion(dist, yaw, pitch, roll, drift)


@dataclass
class Presentation:
    """One attempt in front of the camera: per-frame landmarks (as measured), TOF readings."""

    kind: str                          # "live" or an attack species
    landmarks: np.ndarray              # (F, 5, 2) measured (noisy) landmarks
    distances_mm: list                 # F TOF readings (mm, None = no reading)
    fps: float
    truth: np.ndarray | None = None    # (F, 5, 2) true landmark positions
    frames: list | None = None         # rendered BGR frames (attacks)
    meta: dict = field(default_factory=dict)


class LiveHeadSimulator:
    """Bona fide heads at the landmark level; `landmark_noise` is in eye distances (measure it)."""

    def __init__(self, camera: CameraModel, seed: int = 0, landmark_noise: float = 0.012, fps: float = 25.0):
        self.camera = camera
        self.rng = np.random.default_rng(seed)
        self.noise = landmark_noise
        self.fps = fps

    @staticmethod
    def person(rng: np.random.Generator) -> np.ndarray:
        """A head's 5 points: the average scaled to an adult eye distance, with shape variation."""
        eye_mm = float(np.clip(rng.normal(EYE_DISTANCE_MM, 3.6), 54.0, 73.0))
        pts = FACE_POINTS_MM * (eye_mm / 62.0)     # the average's eye-centre distance is 62 mm
        pts = pts + rng.normal(0, 1.5, pts.shape) * np.array([1.0, 1.0, 2.0])
        pts[:, 2] = pts[:, 2] * rng.uniform(0.7, 1.2)   # flatter and deeper faces
        return pts

    def sequence(self, frames: int = 50, still: bool = False, turn_from: int | None = None,
                 distance_mm: tuple[float, float] | None = None, sensor: bool = True,
                 seed: int | None = None) -> Presentation:
        """A person approaching then facing the terminal; `still`: barely moving (the hard case);
        `turn_from`: from this frame the person slowly turns the head (a challenge answered).
        The same `seed` gives the same person and motion (drawn from the simulator's seed if None)."""
        if seed is None:
            seed = int(self.rng.integers(2 ** 62))
        rng, tof_noise, mark_noise, *motion = _streams(seed, 8)
        pts = self.person(rng)
        head = head_motion(rng, motion, frames, self.fps, still, distance_mm)
        dist, pitch, roll, drift = head.distance, head.pitch, head.roll, head.drift
        yaw = head.yaw
        if turn_from is not None:
            side = np.random.default_rng([seed, 1]).choice([-1, 1])
            yaw = yaw + side * _turn(frames, turn_from, self.fps)
        truth = []
        for k in range(frames):
            r = rotation(yaw[k], pitch[k], roll[k])
            cam = (pts - HEAD_PIVOT_MM) @ r.T + HEAD_PIVOT_MM + np.array([drift[k, 0], drift[k, 1], dist[k]])
            truth.append(project(cam, self.camera))
        truth = np.array(truth)
        tof = tof_noise.normal(0, TOF_NOISE_MM, frames)
        readings = [float(dist[k] - 5.0 + tof[k]) if sensor else None for k in range(frames)]
        eye = np.hypot(*(truth[:, 0:2].mean(axis=1) - truth[:, 2:4].mean(axis=1)).T)
        measured = truth + mark_noise.normal(0, 1, (frames, 5, 2)) * (self.noise * eye)[:, None, None]
        return Presentation("live", measured, readings, self.fps, truth,
                            meta={"eye_mm": float(np.hypot(*(pts[0:2, :2].mean(0) - pts[2:4, :2].mean(0)))),
                                  "still": still, "turn_from": turn_from})


# --- attacks: pictures of real faces held up to the camera ---------------------------------------

@dataclass(frozen=True)
class Species:
    name: str
    medium: str                          # "print" or "screen"
    eye_mm: tuple[float, float]          # the picture's eye distance (physical size of the face shown)
    short_mm: tuple[float, float]        # the sheet's or the screen's short side
    long_mm: tuple[float, float]         # and long side
    border_mm: tuple[float, float]       # white margin of a print, bezel of a screen


SPECIES = {
    # a 10x15 cm or 9x13 cm photo, a passport photo; borderless or nearly
    "photo_print": Species("photo_print", "print", (20.0, 42.0), (89.0, 102.0), (127.0, 152.0), (0.0, 3.0)),
    # a life-size face printed on A4, with the printer's margin
    "a4_print": Species("a4_print", "print", (56.0, 70.0), (210.0, 210.0), (297.0, 297.0), (0.0, 12.0)),
    "phone_screen": Species("phone_screen", "screen", (16.0, 34.0), (62.0, 72.0), (130.0, 155.0), (2.0, 6.0)),
    "tablet_screen": Species("tablet_screen", "screen", (36.0, 68.0), (135.0, 175.0), (210.0, 255.0), (6.0, 20.0)),
}
PLAUSIBLE, IMPLAUSIBLE = "plausible", "implausible"


def _wall(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A room behind the picture: shading, a random amount of texture, and sometimes posters,
    door frames or shelves (straight edges that stay still)."""
    coarse = cv2.resize(rng.integers(50, 200, (6, 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    img = coarse.astype(np.float32)
    cells = int(rng.integers(12, 60))
    mid = cv2.resize(rng.normal(0, 1, (cells * h // w + 1, cells, 1)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    img += rng.uniform(0, 18) * mid[..., None]
    for _ in range(int(rng.integers(0, 5))):
        x0, y0 = int(rng.uniform(-0.2, 1.0) * w), int(rng.uniform(-0.2, 1.0) * h)
        x1, y1 = x0 + int(rng.uniform(0.1, 0.6) * w), y0 + int(rng.uniform(0.1, 0.8) * h)
        cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(c) for c in rng.uniform(30, 230, 3)), -1)
        cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(c) for c in rng.uniform(10, 120, 3)), int(rng.integers(1, 4)))
    img += rng.integers(-6, 7, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _picture(rng: np.random.Generator, photo: np.ndarray, marks: np.ndarray, spec: Species,
             mm_per_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The physical picture as an image at the photo's resolution: the sheet (or screen) of the
    species' size with the face somewhere on it, the medium's look, and its margin or bezel;
    (image, the landmarks in it)."""
    short, long_ = rng.uniform(*spec.short_mm), rng.uniform(*spec.long_mm)
    landscape = spec.name in ("photo_print", "tablet_screen") and rng.random() < 0.3
    w_mm, h_mm = (long_, short) if landscape else (short, long_)
    border = rng.uniform(*spec.border_mm)
    cw, ch = max(8, int((w_mm - 2 * border) / mm_per_px)), max(8, int((h_mm - 2 * border) / mm_per_px))
    eye = float(np.hypot(*(marks[0:2].mean(0) - marks[2:4].mean(0))))
    # where the face sits on the sheet: anywhere that keeps it on, a little above the middle
    room_x, room_y = max(0.0, cw / 2 - 1.3 * eye), max(0.0, ch / 2 - 1.6 * eye)
    fx = cw / 2 + rng.uniform(-room_x, room_x)
    fy = ch / 2 + rng.uniform(-room_y, 0.4 * room_y)
    centre = marks.mean(axis=0)
    shift = np.array([[1.0, 0.0, fx - centre[0]], [0.0, 1.0, fy - centre[1]]])
    img = cv2.warpAffine(photo, shift, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    img = img.astype(np.float32)
    if spec.medium == "print":
        # a print cannot show the sensor's full range: paper white and ink black, a warm cast.
        # No halftone: an office or photo print's screen (70-200 lines per inch, 0.13-0.36 mm;
        # photo paper is continuous-tone) is far finer than what one camera pixel covers on a
        # picture held where its face looks like a person's (0.6-1.5 mm): lens and pixel
        # average it away, and the picture here is rendered at the photo's own resolution
        lo, hi = rng.uniform(25, 45), rng.uniform(215, 240)
        img = lo + img * (hi - lo) / 255.0
        img *= np.array([rng.uniform(0.9, 0.97), rng.uniform(0.97, 1.0), 1.0], np.float32)
        colour = tuple(float(c) for c in rng.uniform(225, 245, 3))
    else:
        # a screen: boosted contrast and gamma, a cool cast, a dark bezel
        img = 255.0 * (img / 255.0) ** rng.uniform(0.8, 1.0) * rng.uniform(1.0, 1.15)
        img *= np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.96)], np.float32)
        colour = tuple(float(c) for c in rng.uniform(5, 40, 1)) * 3
    pad = int(round(border / mm_per_px))
    img = cv2.copyMakeBorder(np.clip(img, 0, 255).astype(np.uint8), pad, pad, pad, pad,
                             cv2.BORDER_CONSTANT, value=colour)
    return img, marks + shift[:, 2] + pad


class AttackGenerator:
    """Renders presentation attacks from face photos. Same seed, same attacks."""

    def __init__(self, camera: CameraModel, seed: int = 0, fps: float = 25.0):
        self.camera = camera
        self.rng = np.random.default_rng(seed)
        self.fps = fps

    def _distance(self, rng: np.random.Generator, eye_mm: float, mode: str) -> float:
        f = self.camera.focal_px
        if mode == PLAUSIBLE:
            # held where the face looks like a person's at a usable distance (eye 40-90 px at 640)
            eye_px = rng.uniform(40, 90) * self.camera.width / 640.0
            return f * eye_mm / eye_px
        if mode == IMPLAUSIBLE:
            # right in front of the lens, as long as the face still fits the frame
            near = max(90.0, f * eye_mm / (120.0 * self.camera.width / 640.0))
            return rng.uniform(near, max(near + 20.0, 220.0))
        raise ValueError(f"unknown distance mode {mode!r}")

    def sequence(self, photo: np.ndarray, photo_landmarks: np.ndarray, species: str, mode: str,
                 frames: int = 50, still: bool = False, turn_from: int | None = None,
                 seed: int | None = None) -> Presentation:
        """`turn_from`: from this frame the attacker tilts the picture (answering a challenge).
        The same `seed` gives the same attack (drawn from the generator's seed if None)."""
        if seed is None:
            seed = int(self.rng.integers(2 ** 62))
        rng, sensing, *motion = _streams(seed, 8)
        cam = self.camera
        spec = SPECIES[species]
        marks = np.asarray(photo_landmarks, np.float64).reshape(5, 2)
        eye_photo = float(np.hypot(*(marks[0:2].mean(0) - marks[2:4].mean(0))))
        eye_mm = rng.uniform(*spec.eye_mm)
        mm_per_px = eye_mm / eye_photo
        picture, marks = _picture(rng, photo, marks, spec, mm_per_px)
        centre = marks.mean(axis=0)
        to_plane = np.array([[mm_per_px, 0, -centre[0] * mm_per_px], [0, mm_per_px, -centre[1] * mm_per_px], [0, 0, 1]])
        dist = self._distance(rng, eye_mm, mode)
        amp = math.radians(rng.uniform(0.5, 2.0) if still else rng.uniform(2.0, 12.0))
        yaw = _sway(motion[0], frames, self.fps, amp) + math.radians(rng.uniform(-8, 8))
        pitch = _sway(motion[1], frames, self.fps, 0.8 * amp) + math.radians(rng.uniform(-8, 8))
        roll = _sway(motion[2], frames, self.fps, 0.4 * amp)
        side = rng.choice([-1, 1])
        if turn_from is not None:
            yaw = yaw + side * _turn(frames, turn_from, self.fps)
        shift = np.stack([_sway(motion[3 + i], frames, self.fps, rng.uniform(2, 0.06 * dist)) for i in range(3)], axis=1)
        h_img, w_img = picture.shape[:2]
        corners = np.array([[0, 0], [w_img, 0], [w_img, h_img], [0, h_img]], np.float64)
        wall = _wall(rng, cam.width, cam.height)
        gain, blur, noise = rng.uniform(0.75, 1.2), rng.uniform(0.3, 1.1), rng.uniform(1.5, 4.0)
        if spec.medium == "screen":
            # the screen's pixel grid beating against the sensor's: fringes at a random frequency,
            # orientation and strength (faint when the screen is out of focus) that slide by a
            # period whenever the screen moves by a pixel pitch (~0.1 mm): under a hand's tremor
            # their phase changes from frame to frame
            yy, xx = np.mgrid[0:cam.height, 0:cam.width].astype(np.float32)
            fx, fy = rng.uniform(0.05, 0.25, 2) * rng.choice([-1, 1], 2)
            fringes = 2 * np.pi * (fx * xx + fy * yy)
            fringe_depth, pitch_mm = rng.uniform(0.01, 0.08), rng.uniform(0.08, 0.2)
            glare = (rng.uniform(0, cam.width), rng.uniform(0, cam.height), rng.uniform(40, 140), rng.uniform(20, 70))
        out_frames, truth, readings = [], [], []
        for k in range(frames):
            r = rotation(yaw[k], pitch[k], roll[k])
            t = np.array([shift[k, 0], shift[k, 1], dist + shift[k, 2]])
            hom = cam.matrix @ np.column_stack([r[:, 0], r[:, 1], t]) @ to_plane
            frame = wall.copy()
            warped = cv2.warpPerspective(picture, hom, (cam.width, cam.height), flags=cv2.INTER_LINEAR)
            mask = np.zeros((cam.height, cam.width), np.uint8)
            quad = cv2.perspectiveTransform(corners[None], hom)[0]
            cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 255)
            frame[mask > 0] = warped[mask > 0]
            img = frame.astype(np.float32) * gain
            if spec.medium == "screen":
                phase = 2 * np.pi * (shift[k, 0] + shift[k, 1]) / pitch_mm
                img *= np.where(mask > 0, 1 + fringe_depth * np.sin(fringes + phase), 1.0)[..., None]
                gx, gy, gr, gv = glare
                yy, xx = np.ogrid[0:cam.height, 0:cam.width]
                img += (gv * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * gr ** 2)))[..., None] * (mask[..., None] > 0)
            img = cv2.GaussianBlur(img, (0, 0), blur) + sensing.normal(0, noise, img.shape).astype(np.float32)
            out_frames.append(np.clip(img, 0, 255).astype(np.uint8))
            truth.append(cv2.perspectiveTransform(marks[None], hom)[0])
            # the sensor's beam on the camera axis meets the picture's plane at depth n.t / n_z
            normal = r[:, 2]
            depth = float(normal @ t / normal[2]) if abs(normal[2]) > 1e-6 else float(t[2])
            readings.append(depth + sensing.normal(0, TOF_NOISE_MM))
        return Presentation(species, np.array(truth), readings, self.fps, np.array(truth), out_frames,
                            meta={"mode": mode, "eye_mm": eye_mm, "distance_mm": dist, "still": still,
                                  "medium": spec.medium})


class FittingTof:
    """A TOF sensor in front of a live person: the distance that fits the largest face the
    pipeline tracked on the previous frame (eye distance `eye_mm`), with the sensor's noise; None
    while nobody is tracked. For benchmarks and demos of a live person without the hardware."""

    def __init__(self, pipeline, eye_mm: float = EYE_DISTANCE_MM, seed: int = 0, focal_px_at_640: float = 0.0):
        self.pipeline = pipeline
        self.eye_mm = eye_mm
        self.focal_px_at_640 = focal_px_at_640
        self.rng = np.random.default_rng(seed)
        self.frame_shape = None   # set by the caller before each frame is processed

    def __call__(self) -> float | None:
        from .camera import eye_distance_px
        from .cues import FACE_DEPTH_OFFSET_MM

        tracks = [t for t in self.pipeline.tracks if not t.missed]
        if not tracks or self.frame_shape is None:
            return None
        face = max(tracks, key=lambda t: t.width)
        focal = CameraModel.for_frame(self.frame_shape[1], self.frame_shape[0], self.focal_px_at_640).focal_px
        d = focal * self.eye_mm / max(eye_distance_px(face.landmarks), 1.0) - FACE_DEPTH_OFFSET_MM
        return float(d + self.rng.normal(0, TOF_NOISE_MM))

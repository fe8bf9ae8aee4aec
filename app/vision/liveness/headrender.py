"""Rendered live heads: a real face photo lifted onto a 3D face surface in front of the simulated camera.

The bona fide counterpart of `AttackGenerator` (synth.py): the same photos, camera (pinhole,
640x480), room, gain, blur and sensor noise, and the motion of `LiveHeadSimulator` (approaching,
swaying, turning about the neck). The only difference from a picture is depth: every photo pixel
sits on a generic face surface (`face_depth_mm`) instead of on a plane. With ``flat=True`` the
same sequence is rendered with the surface flattened to the nose-base plane: the frames are then a
homography warp of the photo (the control).

Geometry (head frame, mm): the photo's face is aligned by its landmarks (roll undone: the eye
line horizontal), scaled to the drawn eye distance (mm per photo pixel = eye_mm / the photo's eye
centre distance), origin at the nose base (landmark 4), x as the camera's x, y down, z away
from the camera. Only the head (an ellipse of the face surface, +-75 mm wide, -120..+110 mm
high, soft edge) is drawn over the room.

Rendering is by inverse mapping: each frame pixel's ray is intersected with the surface by a
fixed-point iteration on the ray parameter (start: the nose-base plane, i.e. the homography;
then the ray meets the plane parallel to the face at the surface's depth under the last
estimate), evaluated on a grid every `grid_step` pixels and interpolated, then `cv2.remap` of
the photo. Self-occlusion is ignored: for the rotations used (< ~15 deg) the nose hides only a
sliver of cheek, and the iteration lands on one of the surface's points along such a ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .camera import EYE_DISTANCE_MM, CameraModel, eye_distance_px
from .synth import HEAD_PIVOT_MM, TOF_NOISE_MM, Presentation, _streams, _turn, _wall, head_motion, project, rotation

AVERAGE_EYE_MM = 62.0           # FACE_POINTS_MM's eye-centre distance: the surface's own scale
HEAD_HALF_WIDTH_MM = 75.0       # the drawn head region (at the average scale)
HEAD_TOP_MM, HEAD_BOTTOM_MM = -120.0, 110.0
HEAD_EDGE = 0.08                # soft edge of the head region (fraction of its radius)
MIN_EYE_PX = 8.0                # a photo's face smaller than this has no usable landmarks
PHOTO_EDGE_FADE = 15.0          # mm: where the photo ends inside the head region it fades out over
                                # this (a sharp straight cut would be an edge no head has)
KIND = "live_render"


def _depth_average(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The average adult's face surface (eye distance 62 mm), not yet referred to the nose base."""
    # the head: an ellipsoid 156 mm wide, its front centred a little above the eyes, curving back
    # 75 mm at the sides; flatter (larger) below the centre so that the chin stays forward
    y0 = -30.0
    b = np.where(y > y0, 175.0, 125.0)
    inner = np.maximum(1.0 - (x / 78.0) ** 2 - ((y - y0) / b) ** 2, 0.02)
    head = 75.0 * (1.0 - np.sqrt(inner))
    # the eye sockets: each eye sits ~8 mm deeper than the ellipsoid there
    socket = 8.0 * (np.exp(-0.5 * (((x - 33.0) / 16.0) ** 2 + ((y + 39.0) / 9.0) ** 2))
                    + np.exp(-0.5 * (((x + 33.0) / 16.0) ** 2 + ((y + 39.0) / 9.0) ** 2)))
    # the nose: a ridge along x = 0 rising from the brow to the tip (9 mm above the nose base),
    # falling quickly below it; narrow at the bridge (5 mm), wide at the nostrils (11 mm)
    width = 5.0 + 6.0 / (1.0 + np.exp(-(y + 18.0) / 6.0))
    sigma = np.where(y < -9.0, 12.0, 6.0)
    nose = 17.0 * np.exp(-0.5 * ((y + 9.0) / sigma) ** 2) * np.exp(-0.5 * (x / width) ** 2)
    # lips and jaw stand a little forward of the ellipsoid
    muzzle = 5.0 * np.exp(-0.5 * ((x / 28.0) ** 2 + ((y - 35.0) / 25.0) ** 2))
    return head + socket - nose - muzzle


_AVERAGE_AT_NOSE_BASE = float(_depth_average(np.array(0.0), np.array(0.0)))


def face_depth_mm(x_mm, y_mm, scale: float = 1.0, depth: float = 1.0) -> np.ndarray:
    """Depth z (mm, away from the camera, 0 at the nose base) of a generic face at (x, y) mm.

    Head frame: origin at the nose base, x as the camera's x, y down. The average face (scale 1:
    eye-centre distance 62 mm) puts the inner eye corners ~12.7 mm behind the nose base, the outer
    ~26.6 mm (FACE_POINTS_MM: 12 and 26), the nose tip ~11 mm in front, the nasion ~8 mm, the
    mouth ~6 mm and the chin ~16 mm behind, the forehead ~12 mm, the cheeks ~21 mm and the face's
    sides (x = +-75 mm) ~60 mm. `scale` sizes the face (eye_mm / 62: x, y and z together, as
    `LiveHeadSimulator.person`); `depth` then scales z alone (flatter 0.7 .. deeper 1.2).
    Smooth (sums of Gaussians and an ellipsoid); meant for |x| <= 75, -120 <= y <= 110 (scaled).
    """
    x = np.asarray(x_mm, np.float64) / scale
    y = np.asarray(y_mm, np.float64) / scale
    return depth * scale * (_depth_average(x, y) - _AVERAGE_AT_NOSE_BASE)


def check_photo_landmarks(photo_bgr: np.ndarray, photo_landmarks) -> np.ndarray:
    """The photo's 5 landmarks as (5, 2) float64, or ValueError naming what is wrong."""
    photo = np.asarray(photo_bgr)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8 or min(photo.shape[:2]) < 16:
        raise ValueError(f"photo must be a BGR uint8 image of at least 16x16, got {photo.dtype} {photo.shape}")
    marks = np.asarray(photo_landmarks, np.float64)
    if marks.size != 10:
        raise ValueError(f"photo landmarks must be 5 points (5, 2), got shape {marks.shape}")
    marks = marks.reshape(5, 2)
    if not np.isfinite(marks).all():
        raise ValueError("photo landmarks are not finite (NaN or inf)")
    h, w = photo.shape[:2]
    if (marks < -0.5).any() or (marks[:, 0] > w - 0.5).any() or (marks[:, 1] > h - 0.5).any():
        raise ValueError(f"photo landmarks lie outside the {w}x{h} photo")
    eye = eye_distance_px(marks)
    if eye < MIN_EYE_PX:
        raise ValueError(f"photo landmarks: eye distance {eye:.1f} px < {MIN_EYE_PX:.0f} px, not a usable face")
    # upright and in the 5-point model's order: eyes 0-1 on the image's right, the nose below them
    right, left = marks[0:2].mean(axis=0), marks[2:4].mean(axis=0)
    along = (right - left) / eye
    nose = marks[4] - (right + left) / 2
    below = float(along[0] * nose[1] - along[1] * nose[0]) / eye
    if below < 0.2:
        raise ValueError("photo landmarks: the nose base is not below the eye line "
                         "(not the 5-point model's order, or the face is not upright)")
    return marks


@dataclass(frozen=True)
class HeadPose:
    """Head frame -> camera frame: p_cam = rotation @ p_head + translation (mm)."""

    rotation: np.ndarray
    translation: np.ndarray

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation


@dataclass(frozen=True)
class FaceSurface:
    """A photo lifted onto the face surface: photo pixels <-> head-frame mm and depth."""

    nose_px: np.ndarray      # the photo's nose base (the head frame's origin)
    mm_per_px: float
    roll: float              # the photo's in-plane tilt (radians), undone
    scale: float             # eye_mm / 62: the surface's size
    depth: float             # the surface's depth factor
    flat: bool = False       # the nose-base plane instead of the surface

    @classmethod
    def from_photo(cls, photo_landmarks: np.ndarray, eye_mm: float, depth: float, flat: bool = False) -> "FaceSurface":
        marks = np.asarray(photo_landmarks, np.float64).reshape(5, 2)
        right, left = marks[0:2].mean(axis=0), marks[2:4].mean(axis=0)
        dx, dy = right - left
        return cls(marks[4].copy(), eye_mm / float(np.hypot(dx, dy)), math.atan2(dy, dx),
                   eye_mm / AVERAGE_EYE_MM, depth, flat)

    @property
    def _align(self) -> np.ndarray:
        c, s = math.cos(self.roll), math.sin(self.roll)
        return np.array([[c, s], [-s, c]])      # rotates the photo's eye line onto +x

    def to_mm(self, photo_px: np.ndarray) -> np.ndarray:
        """Photo pixels (n, 2) -> head-frame (x, y) mm."""
        return (np.asarray(photo_px, np.float64) - self.nose_px) @ self._align.T * self.mm_per_px

    def to_px(self, xy_mm: np.ndarray) -> np.ndarray:
        """Head-frame (x, y) mm (n, 2) -> photo pixels."""
        return np.asarray(xy_mm, np.float64) @ self._align / self.mm_per_px + self.nose_px

    def z(self, x_mm, y_mm) -> np.ndarray:
        if self.flat:
            return np.zeros(np.broadcast(np.asarray(x_mm), np.asarray(y_mm)).shape)
        return face_depth_mm(x_mm, y_mm, self.scale, self.depth)

    def points(self, photo_px: np.ndarray) -> np.ndarray:
        """Photo pixels (n, 2) -> head-frame points (n, 3) on the surface."""
        xy = self.to_mm(np.asarray(photo_px, np.float64).reshape(-1, 2))
        return np.column_stack([xy, self.z(xy[:, 0], xy[:, 1])])

    def project(self, photo_px: np.ndarray, pose: HeadPose, camera: CameraModel) -> np.ndarray:
        """Where photo pixels (n, 2) appear in the frame for `pose` (the forward map)."""
        return project(pose.to_camera(self.points(photo_px)), camera)

    def region_px(self, step_mm: float = 4.0) -> np.ndarray:
        """A grid of photo pixels over the head region (every `step_mm` on the face)."""
        xs = np.arange(-HEAD_HALF_WIDTH_MM, HEAD_HALF_WIDTH_MM + 1e-9, step_mm) * self.scale
        ys = np.arange(HEAD_TOP_MM, HEAD_BOTTOM_MM + 1e-9, step_mm) * self.scale
        xx, yy = np.meshgrid(xs, ys)
        keep = _head_radius(xx, yy, self.scale) <= 1.0
        return self.to_px(np.column_stack([xx[keep], yy[keep]]))

    def outline_px(self, step_mm: float = 10.0) -> np.ndarray:
        """Photo pixels of the head region's outline and of a grid inside it."""
        t = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        yc, half_h = 0.5 * (HEAD_TOP_MM + HEAD_BOTTOM_MM), 0.5 * (HEAD_BOTTOM_MM - HEAD_TOP_MM)
        rim = np.column_stack([HEAD_HALF_WIDTH_MM * np.cos(t), yc + half_h * np.sin(t)]) * self.scale
        return np.vstack([self.to_px(rim), self.region_px(step_mm)])


def _head_radius(x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    """1 on the head region's outline, < 1 inside."""
    yc = 0.5 * (HEAD_TOP_MM + HEAD_BOTTOM_MM) * scale
    half_h = 0.5 * (HEAD_BOTTOM_MM - HEAD_TOP_MM) * scale
    return np.sqrt((x / (HEAD_HALF_WIDTH_MM * scale)) ** 2 + ((y - yc) / half_h) ** 2)


class DepthTable:
    """The surface's depth sampled every `res` mm, for fast lookups with cv2.remap."""

    def __init__(self, surface: FaceSurface, res: float = 0.5):
        s = surface.scale
        self.x0, self.y0, self.res = -1.3 * HEAD_HALF_WIDTH_MM * s, 1.2 * HEAD_TOP_MM * s, res
        nx = int(math.ceil(2.6 * HEAD_HALF_WIDTH_MM * s / res)) + 1
        ny = int(math.ceil((1.2 * HEAD_BOTTOM_MM - 1.2 * HEAD_TOP_MM) * s / res)) + 1
        xx, yy = np.meshgrid(self.x0 + res * np.arange(nx), self.y0 + res * np.arange(ny))
        self.table = surface.z(xx, yy).astype(np.float32)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        mx = ((x - self.x0) / self.res).astype(np.float32)
        my = ((y - self.y0) / self.res).astype(np.float32)
        return cv2.remap(self.table, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)


@dataclass
class HeadMaps:
    """The inverse map of one frame over its head box: frame pixel (x0 + j, y0 + i) shows photo
    pixel (map_x[i, j], map_y[i, j]) with opacity alpha[i, j]."""

    x0: int
    y0: int
    map_x: np.ndarray
    map_y: np.ndarray
    alpha: np.ndarray


def inverse_map(surface: FaceSurface, pose: HeadPose, camera: CameraModel, u: np.ndarray, v: np.ndarray,
                lookup=None, iterations: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The head-frame (x, y) mm seen at frame pixels (u, v) (any shape) and the depth mismatch
    left (mm; ~0 where the iteration converged): (x, y, mismatch)."""
    lookup = lookup or surface.z
    r, t = pose.rotation, pose.translation
    origin = -r.T @ t                                         # the camera centre in the head frame
    rays = np.stack([(u - camera.width / 2) / camera.focal_px, (v - camera.height / 2) / camera.focal_px,
                     np.ones(np.shape(u))], axis=-1) @ r      # directions in the head frame (r.T d)
    dx, dy, dz = rays[..., 0], rays[..., 1], rays[..., 2]
    s = -origin[2] / dz                                       # the nose-base plane: the homography
    x, y = origin[0] + s * dx, origin[1] + s * dy
    if not surface.flat:
        for _ in range(iterations):
            s = (lookup(x, y) - origin[2]) / dz
            x, y = origin[0] + s * dx, origin[1] + s * dy
    mismatch = np.abs(origin[2] + s * dz - lookup(x, y)) if not surface.flat else np.zeros(np.shape(x))
    return x, y, mismatch


class LiveFaceRenderer:
    """Bona fide heads as real frames: a face photo on a 3D surface, moving like a person.
    Same seed, same sequence; a longer sequence of the same seed starts with the same frames."""

    def __init__(self, camera: CameraModel, seed: int = 0, fps: float = 25.0, grid_step: int = 2):
        self.camera = camera
        self.rng = np.random.default_rng(seed)
        self.fps = fps
        self.grid_step = grid_step
        self._pyramid: tuple[np.ndarray, list[np.ndarray]] | None = None   # (photo, its halvings)

    def _source(self, photo_bgr: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
        """The photo, halved (Gaussian pyramid) until a photo pixel covers at least ~0.75 frame
        pixels: a camera integrates light over its pixels, so a photo of far higher resolution
        than the frame must not be point-sampled (its fine texture would alias and shimmer as
        the head moves, which no camera shows). (image, halvings)."""
        if self._pyramid is None or self._pyramid[0] is not photo_bgr:
            self._pyramid = (photo_bgr, [photo_bgr])
        levels = self._pyramid[1]
        level = 0
        while scale * 2 ** level < 0.75 and level < 5 and min(levels[level].shape[:2]) >= 32:
            level += 1
            if len(levels) <= level:
                levels.append(cv2.pyrDown(levels[level - 1]))
        return levels[level], level

    def sequence(self, photo_bgr: np.ndarray, photo_landmarks, frames: int = 50, still: bool = False,
                 seed: int | None = None, flat: bool = False, turn_from: int | None = None) -> Presentation:
        """A person approaching then facing the terminal (`still`: barely moving); `flat`: the same
        sequence with the face flattened to its nose-base plane (the control); `turn_from`: from
        this frame the person slowly turns the head (a challenge answered), the same frames before."""
        marks = check_photo_landmarks(photo_bgr, photo_landmarks)
        if seed is None:
            seed = int(self.rng.integers(2 ** 62))
        rng, sensing, tof_noise, *motion = _streams(seed, 8)
        eye_mm = float(np.clip(rng.normal(EYE_DISTANCE_MM, 3.6), 54.0, 73.0))
        depth = float(rng.uniform(0.7, 1.2))
        surface = FaceSurface.from_photo(marks, eye_mm, depth, flat)
        head = head_motion(rng, motion, frames, self.fps, still)
        dist, pitch, roll, drift = head.distance, head.pitch, head.roll, head.drift
        yaw = head.yaw
        if turn_from is not None:
            # its own stream: the frames before the turn stay those of the sequence without it
            side = np.random.default_rng([seed, 1]).choice([-1, 1])
            yaw = yaw + side * _turn(frames, turn_from, self.fps)
        wall = _wall(rng, self.camera.width, self.camera.height)
        gain, blur, noise = rng.uniform(0.75, 1.2), rng.uniform(0.3, 1.1), rng.uniform(1.5, 4.0)
        lookup = None if flat else DepthTable(surface)
        out_frames, truth, readings, poses = [], [], [], []
        for k in range(frames):
            r = rotation(yaw[k], pitch[k], roll[k])
            pose = HeadPose(r, HEAD_PIVOT_MM - r @ HEAD_PIVOT_MM + np.array([drift[k, 0], drift[k, 1], dist[k]]))
            clean, _ = self.render(photo_bgr, surface, pose, wall, lookup)
            img = clean.astype(np.float32) * gain
            img = cv2.GaussianBlur(img, (0, 0), blur) + sensing.normal(0, noise, img.shape).astype(np.float32)
            out_frames.append(np.clip(img, 0, 255).astype(np.uint8))
            truth.append(surface.project(marks, pose, self.camera))
            # the TOF beam meets the face near the nose: the nose base's distance, 5 mm less
            readings.append(float(pose.translation[2] - 5.0 + tof_noise.normal(0, TOF_NOISE_MM)))
            poses.append(pose)
        truth = np.array(truth)
        return Presentation(KIND, truth, readings, self.fps, truth, out_frames,
                            meta={"eye_mm": eye_mm, "depth": depth, "still": still, "flat": flat, "turn_from": turn_from,
                                  "distance_mm": (float(dist.min()), float(dist.max())),
                                  "surface": surface, "poses": poses,
                                  "landmark_depth_mm": surface.points(marks)[:, 2].tolist()})

    def render(self, photo_bgr: np.ndarray, surface: FaceSurface, pose: HeadPose, background: np.ndarray,
               lookup=None) -> tuple[np.ndarray, HeadMaps | None]:
        """The head drawn over `background` (no gain, blur or noise) and the maps used."""
        cam = self.camera
        frame = background.copy()
        box = project(pose.to_camera(surface.points(surface.outline_px())), cam)
        margin = 4 * self.grid_step
        x0, y0 = np.floor(box.min(axis=0)).astype(int) - margin
        x1, y1 = np.ceil(box.max(axis=0)).astype(int) + margin
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cam.width - 1), min(y1, cam.height - 1)
        if x1 <= x0 or y1 <= y0:
            return frame, None
        step = self.grid_step
        gu = np.arange(x0, x1 + step, step, dtype=np.float64)
        gv = np.arange(y0, y1 + step, step, dtype=np.float64)
        uu, vv = np.meshgrid(gu, gv)
        x, y, mismatch = inverse_map(surface, pose, cam, uu, vv, lookup)
        photo_xy = surface.to_px(np.stack([x.ravel(), y.ravel()], axis=1)).reshape(*x.shape, 2)
        h, w = photo_bgr.shape[:2]
        inside = np.minimum.reduce([photo_xy[..., 0], photo_xy[..., 1], w - 1 - photo_xy[..., 0],
                                    h - 1 - photo_xy[..., 1]])
        alpha = (np.clip((1.0 - _head_radius(x, y, surface.scale)) / HEAD_EDGE, 0, 1)
                 * np.clip(inside / max(4.0, PHOTO_EDGE_FADE / surface.mm_per_px), 0, 1)
                 * np.clip((3.0 - mismatch) / 2.0, 0, 1))   # soft where the rays graze the sides
        # the grid every `step` pixels -> every pixel of the box (bilinear, aligned on the grid)
        fu, fv = np.meshgrid(np.arange(x1 - x0 + 1, dtype=np.float32) / step,
                             np.arange(y1 - y0 + 1, dtype=np.float32) / step)
        coarse = np.dstack([photo_xy, alpha[..., None]]).astype(np.float32)
        fine = cv2.remap(coarse, fu, fv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        maps = HeadMaps(int(x0), int(y0), fine[..., 0], fine[..., 1], fine[..., 2])
        source, level = self._source(photo_bgr, cam.focal_px * surface.mm_per_px / float(pose.translation[2]))
        shrink = 2.0 ** -level   # pyrDown: pixel centres map as (x + 0.5) / 2 - 0.5
        patch = cv2.remap(source, (maps.map_x + 0.5) * shrink - 0.5, (maps.map_y + 0.5) * shrink - 0.5,
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a = maps.alpha[..., None]
        region = frame[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
        frame[y0:y1 + 1, x0:x1 + 1] = np.clip(region * (1 - a) + patch.astype(np.float32) * a + 0.5, 0, 255).astype(np.uint8)
        return frame, maps

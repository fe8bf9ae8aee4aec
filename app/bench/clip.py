"""Synthesised camera clips from real face photos: people walking up to the terminal.

Each *episode* takes one photo and moves its head across a textured background: it enters
from one side while growing (approaching), bobs as a walker does, settles in front of the
camera, then steps out. An actor found with its landmarks (`find_actor(..., landmarks=model)`)
is a head: the photo lifted onto a 3D face surface (`LiveFaceRenderer`'s) that also turns and
nods a little, as people do, so it shows a head's depth to the liveness check. Without landmarks
the head is a flat cut-out (a picture: the liveness check refuses it). Frames are rendered on
demand (`frame(k)`), so a long clip costs no memory; the truth (face box, identity, the frame
where the face is first fully in view) comes with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.vision.liveness.camera import EYE_DISTANCE_MM, CameraModel
from app.vision.liveness.headrender import DepthTable, FaceSurface, HeadPose, LiveFaceRenderer
from app.vision.liveness.synth import HEAD_PIVOT_MM, rotation


@dataclass(frozen=True)
class Actor:
    """A photo and where its face is in it."""

    name: str
    image: np.ndarray        # BGR
    face_box: np.ndarray     # l, t, r, b in the photo
    landmarks: np.ndarray | None = None   # the 5 points in the photo: rendered as a head with depth

    @property
    def face_width(self) -> float:
        return float(self.face_box[2] - self.face_box[0] + 1)

    @property
    def face_centre(self) -> tuple[float, float]:
        l, t, r, b = self.face_box
        return (l + r) / 2, (t + b) / 2


def find_actor(name: str, image: np.ndarray, detector, landmarks=None) -> Actor:
    """The widest face of the photo; with a landmark model, its 5 points too (a head with depth)."""
    boxes, _, _ = detector.detect(image, downscale=0.0, min_face=80, threads=1)
    if len(boxes) == 0:
        boxes, _, _ = detector.detect(image, downscale=1.0, upsample=1)
    if len(boxes) == 0:
        raise ValueError(f"no face found in the photo of {name}")
    widths = boxes[:, 2] - boxes[:, 0]
    box = boxes[int(np.argmax(widths))].astype(np.float64)
    marks = None if landmarks is None else landmarks.predict(image, box[None])[0].astype(np.float64)
    return Actor(name, image, box, marks)


@dataclass(frozen=True)
class Episode:
    actor: Actor
    start: int              # first frame of the episode
    frames: int             # length in frames
    from_left: bool = True
    start_width: float = 170.0
    end_width: float = 260.0


def background(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A wall-like textured background (low-frequency shading plus fine noise)."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.integers(60, 180, (9, 16, 3), dtype=np.uint8), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 6, (height, width, 3))
    return np.clip(coarse.astype(np.float64) + fine, 0, 255).astype(np.uint8)


class WalkUpClip:
    """Episodes one after another, with empty frames between (`gap` frames)."""

    def __init__(self, actors: list[Actor], width: int = 1280, height: int = 720, fps: float = 25.0,
                 episode_frames: int = 75, gap: int = 12, repeats: int = 1):
        self.width, self.height, self.fps = width, height, fps
        self.background = background(width, height)
        self.episodes: list[Episode] = []
        start = gap
        for r in range(repeats):
            for i, actor in enumerate(actors):
                self.episodes.append(Episode(actor, start, episode_frames, from_left=(i + r) % 2 == 0))
                start += episode_frames + gap
        self.length = start
        self._cutouts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._heads: dict[int, tuple] = {}

    def __len__(self) -> int:
        return self.length

    def _pose(self, episode: Episode, k: int) -> tuple[float, float, float]:
        """Face centre x, y and width at frame k of the episode."""
        u = k / max(1, episode.frames - 1)
        enter, leave = 0.30, 0.85     # walking in until 30%, standing until 85%, then out
        w = episode.start_width + (episode.end_width - episode.start_width) * min(1.0, u / enter)
        centre_x = self.width / 2
        outside = -0.6 * w
        if u < enter:
            x = outside + (centre_x - outside) * (u / enter)
        elif u < leave:
            x = centre_x + 0.02 * self.width * math.sin(2 * math.pi * (u - enter) * 1.5)
        else:
            x = centre_x + (self.width + 0.6 * w - centre_x) * ((u - leave) / (1 - leave))
        if not episode.from_left:
            x = self.width - x
        bob = 6.0 * math.sin(2 * math.pi * k / 12.0) if (u < enter or u >= leave) else 0.0
        y = self.height * 0.45 + bob
        return x, y, w

    def _cutout(self, actor: Actor) -> tuple[np.ndarray, np.ndarray]:
        if actor.name not in self._cutouts:
            h, w = actor.image.shape[:2]
            cx, cy = actor.face_centre
            mask = np.zeros((h, w), np.float32)
            axes = (int(actor.face_width * 0.95), int(actor.face_width * 1.25))
            cv2.ellipse(mask, (int(cx), int(cy + 0.1 * actor.face_width)), axes, 0, 0, 360, 1.0, -1)
            mask = cv2.GaussianBlur(mask, (0, 0), actor.face_width * 0.08)
            self._cutouts[actor.name] = (actor.image, mask)
        return self._cutouts[actor.name]

    def truth(self, index: int):
        """(actor name, face box l,t,r,b in the frame) or None when nobody is in view."""
        for ep in self.episodes:
            if ep.start <= index < ep.start + ep.frames:
                x, y, w = self._pose(ep, index - ep.start)
                scale = w / ep.actor.face_width
                l, t, r, b = ep.actor.face_box
                cx, cy = ep.actor.face_centre
                box = np.array([x + (l - cx) * scale, y + (t - cy) * scale, x + (r - cx) * scale,
                                y + (b - cy) * scale])
                return ep.actor.name, box, ep
        return None

    def entered(self, episode: Episode) -> int:
        """The first frame where the episode's face is fully inside the frame."""
        for k in range(episode.start, episode.start + episode.frames):
            _, box, _ = self.truth(k)
            if box[0] >= 0 and box[1] >= 0 and box[2] <= self.width - 1 and box[3] <= self.height - 1:
                return k
        raise ValueError("the face never enters the frame")

    def _head(self, actor: Actor):
        """(surface, depth table, renderer) of an actor with landmarks, made once."""
        key = id(actor)
        if key not in self._heads:
            surface = FaceSurface.from_photo(actor.landmarks, EYE_DISTANCE_MM, depth=1.0)
            renderer = LiveFaceRenderer(CameraModel.for_frame(self.width, self.height), fps=self.fps, grid_step=1)
            self._heads[key] = (surface, DepthTable(surface), renderer)
        return self._heads[key]

    def _render_head(self, episode: Episode, k: int, out: np.ndarray) -> np.ndarray:
        """The actor's head at the pose of frame k, turning (±6°, 1.6 s) and nodding (±3°,
        2.2 s) as it goes."""
        x, y, w = self._pose(episode, k)
        phase = 0.7 * episode.start
        return self.render_head(episode.actor, (x, y), w, out,
                                yaw=6.0 * math.sin(2 * math.pi * k / 40.0 + phase),
                                pitch=3.0 * math.sin(2 * math.pi * k / 55.0 + 2 * phase))

    def render_head(self, actor: Actor, centre: tuple[float, float], face_px: float, base: np.ndarray,
                    yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
        """`base` with the actor's head (it needs landmarks) where the flat cut-out `face_px` wide
        centred at `centre` would be, at the distance its size implies (an adult's eye distance),
        facing the camera and turned from there by `yaw` and `pitch` degrees about the neck."""
        if actor.landmarks is None:
            raise ValueError(f"actor {actor.name} has no landmarks: find_actor(..., landmarks=model)")
        surface, lookup, renderer = self._head(actor)
        scale = face_px / actor.face_width
        cam = renderer.camera
        # a photo pixel spans mm_per_px on the face and `scale` frame pixels: f * mm / px
        distance = cam.focal_px * surface.mm_per_px / scale
        cx, cy = actor.face_centre
        nose = np.asarray(centre, np.float64) + (actor.landmarks[4] - np.array([cx, cy])) * scale
        at = np.array([(nose[0] - cam.width / 2) * distance / cam.focal_px,
                       (nose[1] - cam.height / 2) * distance / cam.focal_px, distance])
        # a person walking up looks at the terminal: the face turned towards the camera (about the
        # nose base), then swaying by `yaw` and `pitch` about the neck
        look = rotation(math.atan2(at[0], at[2]), -math.atan2(at[1], math.hypot(at[0], at[2])), 0.0)
        sway = rotation(math.radians(yaw), math.radians(pitch), 0.0)
        pose = HeadPose(look @ sway, at + look @ (HEAD_PIVOT_MM - sway @ HEAD_PIVOT_MM))
        frame, _ = renderer.render(actor.image, surface, pose, base.copy(), lookup)
        return frame

    def frame(self, index: int) -> np.ndarray:
        out = self.background.copy()
        truth = self.truth(index)
        if truth is None:
            return out
        _, _, ep = truth
        if ep.actor.landmarks is not None:
            return self._render_head(ep, index - ep.start, out)
        x, y, w = self._pose(ep, index - ep.start)
        image, mask = self._cutout(ep.actor)
        scale = w / ep.actor.face_width
        cx, cy = ep.actor.face_centre
        m = np.array([[scale, 0, x - cx * scale], [0, scale, y - cy * scale]])
        size = (self.width, self.height)
        warped = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        return (out * (1 - alpha) + warped * alpha).astype(np.uint8)

    def __iter__(self):
        for k in range(self.length):
            yield self.frame(k)


# --- staged scenes: several people at once, a queue, a cut ---------------------------------------


@dataclass(frozen=True)
class Part:
    """One person's part in a staged clip: their face centre and width at key frames, straight
    lines between (frames [keys[0][0], keys[-1][0]]). Nearer people (higher `depth`) are drawn
    over the others."""

    actor: Actor
    keys: tuple[tuple[int, float, float, float], ...]   # (frame, centre x, centre y, face width)
    depth: int = 0

    @property
    def start(self) -> int:
        return self.keys[0][0]

    @property
    def end(self) -> int:
        return self.keys[-1][0] + 1

    def pose(self, index: int) -> tuple[float, float, float]:
        frames = [k[0] for k in self.keys]
        return tuple(float(np.interp(index, frames, [k[i] for k in self.keys])) for i in (1, 2, 3))


@dataclass(frozen=True)
class Face:
    """The truth about one face on one frame."""

    name: str
    box: np.ndarray     # l, t, r, b in the frame
    depth: int


class StagedClip(WalkUpClip):
    """People moving along `Part` paths at once (heads with depth when the actors have landmarks);
    from frame `cut_at` on, another room behind them (a scene cut)."""

    def __init__(self, parts: list[Part], width: int = 1280, height: int = 720, fps: float = 25.0,
                 cut_at: int | None = None, tail: int = 5):
        self.width, self.height, self.fps = width, height, fps
        self.background = background(width, height)
        self.other_room = background(width, height, seed=11)
        self.parts, self.cut_at = parts, cut_at
        self.episodes = []
        self.length = max(p.end for p in parts) + tail
        self._cutouts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._heads: dict[int, tuple] = {}

    def faces(self, index: int) -> list[Face]:
        """Every face on frame `index` (partly hidden or outside the frame too), nearest first."""
        out = []
        for part in self.parts:
            if part.start <= index < part.end:
                x, y, w = part.pose(index)
                out.append(Face(part.actor.name, face_box(part.actor, x, y, w), part.depth))
        return sorted(out, key=lambda f: -f.depth)

    def visible(self, index: int, name: str) -> float:
        """The share of `name`'s face box on frame `index` that is inside the picture and not
        behind someone nearer (0 when not in view)."""
        faces = self.faces(index)
        mine = next((f for f in faces if f.name == name), None)
        if mine is None:
            return 0.0
        return float(np.mean(under_box(mine.box, faces, self.width, self.height) == name))

    def frame(self, index: int) -> np.ndarray:
        out = (self.other_room if self.cut_at is not None and index >= self.cut_at else self.background).copy()
        for part in sorted(self.parts, key=lambda p: p.depth):   # farthest first
            if not part.start <= index < part.end:
                continue
            x, y, w = part.pose(index)
            if part.actor.landmarks is not None:
                phase = 0.7 * part.start + part.depth
                out = self.render_head(part.actor, (x, y), w, out,
                                       yaw=6.0 * math.sin(2 * math.pi * index / 40.0 + phase),
                                       pitch=3.0 * math.sin(2 * math.pi * index / 55.0 + 2 * phase))
            else:
                out = self._paste_cutout(part.actor, x, y, w, out)
        return out

    def _paste_cutout(self, actor: Actor, x: float, y: float, w: float, out: np.ndarray) -> np.ndarray:
        image, mask = self._cutout(actor)
        scale = w / actor.face_width
        cx, cy = actor.face_centre
        m = np.array([[scale, 0, x - cx * scale], [0, scale, y - cy * scale]])
        size = (self.width, self.height)
        warped = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        return (out * (1 - alpha) + warped * alpha).astype(np.uint8)


def face_box(actor: Actor, x: float, y: float, w: float) -> np.ndarray:
    """The frame box of the actor's face drawn `w` wide centred at (x, y)."""
    scale = w / actor.face_width
    l, t, r, b = actor.face_box
    cx, cy = actor.face_centre
    return np.array([x + (l - cx) * scale, y + (t - cy) * scale, x + (r - cx) * scale, y + (b - cy) * scale])


def under_box(box, faces: list[Face], width: int, height: int, samples: int = 16) -> np.ndarray:
    """Who is seen at each of samples x samples points spread over `box`: the nearest face whose
    box holds the point ("" for none, or outside the picture). `faces` nearest first."""
    l, t, r, b = (float(v) for v in box)
    xs, ys = np.meshgrid(np.linspace(l, r, samples), np.linspace(t, b, samples))
    who = np.full(xs.shape, "", dtype=object)
    for face in faces:
        fl, ft, fr, fb = face.box
        inside = (xs >= fl) & (xs <= fr) & (ys >= ft) & (ys <= fb) & (who == "")
        who[inside] = face.name
    who[(xs < 0) | (ys < 0) | (xs > width - 1) | (ys > height - 1)] = ""
    return who


def person_under(box, faces: list[Face], width: int, height: int, share: float = 0.4) -> str | None:
    """The person whose visible face fills most of `box` (at least `share` of it), else None."""
    who = under_box(box, faces, width, height)
    names, counts = np.unique(who[who != ""], return_counts=True)
    if len(names) == 0:
        return None
    best = int(np.argmax(counts))
    return str(names[best]) if counts[best] >= share * who.size else None

"""`daka bench headrender`: time per frame of the rendered live heads (liveness evaluation data).

Medians after a warm-up (app.bench.timing) of whole sequences divided by their length (the
per-sequence set-up, room and depth table included), each beside a baseline in the same run:
- `LiveFaceRenderer` (a face photo on the 3D surface) and its flat control;
- baseline: `AttackGenerator` rendering the same photo as a life-size A4 print (a plane: one
  `cv2.warpPerspective`), the same camera, room, blur and noise.
Also the head alone (`LiveFaceRenderer.render` for one pose: inverse map and remap, no blur or noise).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from app import native
from app.bench.clip import find_actor
from app.bench.timing import median_ms
from app.devdata import registry_face_images
from app.vision.liveness.camera import CameraModel
from app.vision.liveness.headrender import DepthTable, FaceSurface, HeadPose, LiveFaceRenderer
from app.vision.liveness.synth import HEAD_PIVOT_MM, AttackGenerator, _wall, rotation


def _photo(models):
    image = cv2.imdecode(np.fromfile(registry_face_images()["obama.jpg"], np.uint8), cv2.IMREAD_COLOR)
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    return image, find_actor("obama", image, native.FaceDetector(), landmarks).landmarks


def run(models, repeat: int = 5, frames: int = 25) -> dict:
    camera = CameraModel.for_frame(640, 480)
    image, marks = _photo(models)
    renderer, attacks = LiveFaceRenderer(camera), AttackGenerator(camera)

    def per_frame(fn) -> float:
        return round(median_ms(fn, repeat, warmup=1) / frames, 2)

    live = per_frame(lambda: renderer.sequence(image, marks, frames=frames, seed=1))
    flat = per_frame(lambda: renderer.sequence(image, marks, frames=frames, seed=1, flat=True))
    attack = per_frame(lambda: attacks.sequence(image, marks, "a4_print", "plausible", frames=frames, seed=1))
    surface = FaceSurface.from_photo(marks, 63.0, 1.0)
    r = rotation(math.radians(10), math.radians(-5), 0.0)
    pose = HeadPose(r, HEAD_PIVOT_MM - r @ HEAD_PIVOT_MM + np.array([0.0, 0.0, 400.0]))
    wall = _wall(np.random.default_rng(0), camera.width, camera.height)
    table = DepthTable(surface)
    head_only = round(median_ms(lambda: renderer.render(image, surface, pose, wall, table), repeat * frames), 2)
    return {
        "frame": [camera.width, camera.height],
        "photo": "obama.jpg",
        "frames_per_sequence": frames,
        "repeat": repeat,
        "ms_per_frame": {"live_render": live, "flat_control": flat, "baseline_attack_a4_print": attack},
        "ratio_live_to_attack": round(live / attack, 2) if attack else None,
        "head_only_ms_at_400mm": head_only,
        "grid_step_px": renderer.grid_step,
    }

"""What the arm64 run measures inside the emulated root, and the same on this machine for comparison.

Run by path with an installed Daka's Python (no `tests` imports): `python probe_child.py PHOTOS_DIR
INSTANCE_DIR` prints one JSON object: the machine and build, the gallery against numpy, text
metrics and ink, HOG detection, landmarks and descriptors of each photo, and the vision pipeline on
a short synthesised clip (the registry photos walking up to the camera).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from app import native
from app.bench.clip import WalkUpClip, find_actor
from app.config import load_config
from app.fonts import find_cjk_font
from app.instance import Instance
from app.models import resolve
from app.vision.descriptors import OnnxDescriptor
from app.vision.embedders import DlibEmbedder
from app.vision.engine import VisionParts
from app.vision.gallery import FaceGallery
from app.vision.pipeline import VisionPipeline

PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
GALLERY_SIZES = (1, 100, 1000, 20005)  # 20005: over the core's parallel-scan threshold (20,000 rows)
TEXTS = ("张三 打卡成功", "Zhang San 08:59", "请正对摄像头")


def gallery_against_numpy() -> list[dict]:
    """Top-1 of the core's index against numpy's argmin over the same float32 rows."""
    rng = np.random.default_rng(22)
    out = []
    for n in GALLERY_SIZES:
        rows = rng.standard_normal((n, 128), dtype=np.float32)
        queries = rng.standard_normal((16, 128), dtype=np.float32)
        queries[:4] = rows[rng.integers(0, n, 4)] + 0.01   # near an enrolled row
        ids = np.arange(n, dtype=np.int64) * 7 + 3
        index = native.GalleryIndex(128)
        index.add(ids, rows)
        found, dist = index.search(queries, 1)
        wide = rows.astype(np.float64)
        d = np.sqrt(np.stack([((wide - q) ** 2).sum(axis=1) for q in queries.astype(np.float64)]))
        want = ids[np.argmin(d, axis=1)]
        out.append({"n": n, "queries": len(queries), "agree": int((found[:, 0] == want).sum()),
                    "max_dist_error": float(np.max(np.abs(dist[:, 0] - d.min(axis=1)))),
                    "top1": found[:, 0].tolist()})
    return out


def text_rendering() -> list[dict]:
    font = find_cjk_font()
    renderer = native.TextRenderer(str(font.path), font.face_index)
    out = []
    for text in TEXTS:
        for size, outline in ((24, 0), (32, 2)):
            m = renderer.measure(text, size, outline)
            frame = np.zeros((80, 400, 3), np.uint8)
            box = renderer.draw(frame, text, (10, 10), size, outline=outline, outline_color=(0, 0, 255))
            out.append({"text": text, "size": size, "outline": outline, "width": m.width, "height": m.height,
                        "box": list(box), "ink": int(frame.astype(np.int64).sum())})
    return out


def faces(photo_dir: Path, models) -> dict:
    detector = native.FaceDetector()
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    onnx = DlibEmbedder(OnnxDescriptor(models.onnx), flip=True)
    dlib = native.DlibDescriptor(str(models.path("dlib_face_recognition_resnet_model_v1")))
    out = {}
    for name in PHOTOS:
        image = cv2.imread(str(photo_dir / name), cv2.IMREAD_COLOR)
        boxes, scores, _ = detector.detect(image, downscale=0.0, min_face=80)
        shape = landmarks.predict(image, boxes[:1])
        chips = native.extract_chips(image, shape)
        out[name] = {"boxes": boxes.tolist(), "scores": scores.tolist(), "landmarks": shape[0].tolist(),
                     "descriptor": onnx.embed(image, shape)[0].tolist(),
                     "descriptor_dlib": dlib.compute(chips)[0].tolist()}
    return out


def pipeline_clip(photo_dir: Path, models, config) -> dict:
    """The frame-by-frame pipeline on a synthesised walk-up clip of two people, both enrolled."""
    photos = {n: cv2.imread(str(photo_dir / n), cv2.IMREAD_COLOR) for n in PHOTOS}
    parts = VisionParts.load(models, config.vision)
    gallery = FaceGallery()
    pipeline = VisionPipeline.from_config(parts, config, gallery)
    for template, (staff, name) in enumerate(((1, "obama.jpg"), (2, "biden.jpg")), start=1):
        boxes, _, _ = pipeline.detector.detect(photos[name], downscale=0.0, min_face=80, threads=1)
        shape = pipeline.landmark_model.predict(photos[name], boxes[:1])
        gallery.add(template, staff, pipeline.embedder.embed(photos[name], shape)[0])
    actors = [find_actor("obama", photos["obama2.jpg"], pipeline.detector),
              find_actor("biden", photos["biden.jpg"], pipeline.detector)]
    clip = WalkUpClip(actors, 640, 480, fps=25.0, episode_frames=30, gap=4)
    frames = list(clip)
    named: list[list] = []
    started = time.perf_counter()
    for frame in frames:
        result = pipeline.process(frame)
        named.append(sorted(v.staff_id for v in result.tracks if v.staff_id is not None))
    seconds = time.perf_counter() - started
    episodes = [{"actor": ep.actor.name, "start": ep.start, "end": ep.start + ep.frames,
                 "named": sorted({s for k in range(ep.start, ep.start + ep.frames) for s in named[k]})}
                for ep in clip.episodes]
    return {"frames": len(frames), "seconds": seconds, "ms_per_frame": 1000 * seconds / len(frames),
            "episodes": episodes, "first_named": [next((k for k in range(ep["start"], ep["end"]) if named[k]), None)
                                                  for ep in episodes]}


def main() -> int:
    photo_dir, instance_dir = Path(sys.argv[1]), Path(sys.argv[2])
    instance = Instance.resolve(str(instance_dir))
    instance.prepare()
    config = load_config(instance)
    config = replace(config, liveness=replace(config.liveness, level="off"))
    models = resolve(None, verify=False)
    report = {"machine": platform.machine(), "build": dict(native.build_info()), "font": str(find_cjk_font().path),
              "seconds": {}}
    for name, step in (("gallery", gallery_against_numpy), ("text", text_rendering),
                       ("faces", lambda: faces(photo_dir, models)),
                       ("pipeline", lambda: pipeline_clip(photo_dir, models, config))):
        started = time.perf_counter()
        report[name] = step()
        report["seconds"][name] = round(time.perf_counter() - started, 2)
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

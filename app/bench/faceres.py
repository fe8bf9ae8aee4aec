"""`daka bench faceres`: the second embedder and the fused recognition of one face.

Medians after a warm-up (app.bench.timing), each beside a baseline measured in the same run:
- faceres' forward pass on ONNX Runtime (1 and 2 threads, batched) against TensorFlow.js running
  the original graph (the npm package's own runtime, pure-JS CPU backend, in Node);
- recognising one face with both models (chips, dlib with flip, faceres, fusion, a search of a
  1,000-person gallery) against the same with dlib alone.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from app import native
from app.bench.native import _frame_640x480
from app.bench.timing import median_ms
from app.devdata import registry_face_images
from app.models import ModelError
from app.models.faceres import source_folder, tfjs_outputs
from app.vision.descriptors import open_descriptor
from app.vision.embedders import DlibEmbedder, FaceresEmbedder, FusedEmbedder, unit_rows
from app.vision.faceres import FaceresNetwork, preprocess
from app.vision.gallery import FaceGallery


def _median_and_best(fn, repeat: int) -> tuple[float, float]:
    """Median and fastest run (ms): on a shared machine the fastest shows the unloaded cost."""
    fn(), fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times)), float(min(times))


def _face(models):
    frame = _frame_640x480(registry_face_images().get("obama.jpg"))
    boxes, _, _ = native.FaceDetector().detect(frame, downscale=1.0)
    if len(boxes) == 0:
        raise RuntimeError("the benchmark photo shows no face")
    shapes = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks"))).predict(frame, boxes[:1])
    return frame, shapes


def _gallery(embedder, people: int = 1000):
    rng = np.random.default_rng(3)
    gallery = FaceGallery()
    for i in range(people):
        parts = {k: unit_rows(rng.normal(size=(1, m.dim))) for k, m in
                 zip(embedder.kinds, getattr(embedder, "members", (embedder,)))}
        gallery.add(i + 1, i + 1, embedder.combine(parts)[0])
    return gallery


def run(models, config, repeat: int = 30, tfjs_runs: int = 5, log=None) -> dict:
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if models.faceres is None:
        raise ModelError("the faceres model is not installed — run `daka models install`")
    frame, shapes = _face(models)
    out: dict = {"command": "daka bench faceres --json",
                 "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}

    log("bench: faceres forward pass (ONNX Runtime) …")
    one = FaceresNetwork(models.faceres, threads=1)
    two = FaceresNetwork(models.faceres, threads=2)
    chip = FaceresEmbedder(one).chips(frame, shapes)
    batch = np.ascontiguousarray(np.repeat(chip, 4, axis=0))
    single_1t, single_best = _median_and_best(lambda: one.run(chip), repeat)
    single_2t = median_ms(lambda: two.run(chip), repeat)
    batch_1t = median_ms(lambda: one.run(batch), max(5, repeat // 4)) / 4
    log("bench: the same graph in TensorFlow.js (Node, CPU backend) …")
    try:
        if tfjs_runs <= 0:
            raise ModelError("not asked for (--tfjs-runs 0)")
        tfjs = tfjs_outputs(source_folder(models.derived_dir) / "faceres.json", preprocess(chip),
                            say=log, timing_runs=tfjs_runs)
        tfjs_ms = float(tfjs["median_ms"])
    except ModelError as exc:
        log(f"bench: TensorFlow.js unavailable ({exc})")
        tfjs_ms = None
    out["faceres_forward"] = {
        "ours_ms": round(single_1t, 3), "ours_fastest_ms": round(single_best, 3),
        "ours_2_threads_ms": round(single_2t, 3),
        "ours_batch4_per_face_ms": round(batch_1t, 3),
        "baseline": "TensorFlow.js 4.22 (tfjs-backend-cpu) running faceres.json in Node, one face",
        "baseline_ms": None if tfjs_ms is None else round(tfjs_ms, 3),
        "speedup": None if not tfjs_ms else round(tfjs_ms / single_1t, 2),
        "target_ms": 12.0,
    }

    log("bench: recognising one face, fused against dlib alone …")
    vision = config.vision
    dlib = DlibEmbedder(open_descriptor(models, vision.descriptor_backend, threads=1), flip=vision.flip_augment)
    fused = FusedEmbedder(dlib, FaceresEmbedder(one, vision.faceres_padding), vision.fusion_dlib_weight)
    g_fused, g_dlib = _gallery(fused), _gallery(dlib)

    def recognise(embedder, gallery):
        described = embedder.describe(frame, shapes)
        return gallery.match_many(embedder.combine(described.parts))

    fused_ms, fused_best = _median_and_best(lambda: recognise(fused, g_fused), repeat)
    dlib_ms, dlib_best = _median_and_best(lambda: recognise(dlib, g_dlib), repeat)
    out["recognise_one_face"] = {
        "ours_ms": round(fused_ms, 3), "ours_fastest_ms": round(fused_best, 3), "what": f"{fused.model_id}: chips, both models, fusion, "
                                              "search of 1,000 people (1 thread each)",
        "baseline": "dlib alone (with flip), same steps", "baseline_ms": round(dlib_ms, 3),
        "baseline_fastest_ms": round(dlib_best, 3),
        "cost_ratio": round(fused_ms / dlib_ms, 2), "target_ms": 30.0,
    }
    return out

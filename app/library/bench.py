"""`daka bench enrol`: enrolling one photo into a large gallery, the decision's recomputation included.

A throw-away instance (SQLite), the configured embedder, a gallery of `people` random people,
then the face_recognition sdist's obama.jpg enrolled and removed `repeat` times through
`FaceLibrary.enroll` (decode, detect, landmarks, describe with every model, duplicate checks,
database rows, photo file, live gallery with its own cohort: the new photo against every enrolled
one, O(photos x dim)) and the decision's threshold recomputed from that cohort (its tail fit).
Beside it, what a change of the library costs the live gallery: a whole reload from the store
(start-up, a restore: rows read, vectors combined, the cohort built at once) against one person
made inactive and active again, applied by `FaceLibrary.sync_gallery` (the admin's staff edits,
a fleet mirror's changes). Medians after a warm-up.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.devdata import registry_face_images
from app.instance import Instance
from app.store import FaceTemplate, Staff, open_store
from app.vision.decision import DecisionRule
from app.vision.embedders import unit_rows
from app.vision.engine import VisionParts
from app.vision.gallery import FaceGallery

from .names import Identity
from .service import FaceLibrary


def _random_people(store, embedder, people: int) -> None:
    """`people` staff with one random photo each, stored as enrolment stores them (a row per model)."""
    rng = np.random.default_rng(3)
    members = getattr(embedder, "members", (embedder,))
    with store.session() as s:
        for i in range(people):
            staff = Staff(staff_no=f"R{i:06d}", name=f"随机{i}")
            s.add(staff)
            s.add_all([FaceTemplate(staff=staff, model_id=k, photo_file=f"random-{i}.jpg", photo_sha256=f"random-{i}",
                                    descriptor=unit_rows(rng.normal(size=(1, m.dim)))[0].astype("<f4").tobytes())
                       for k, m in zip(embedder.kinds, members)])


def _median_ms(samples) -> float:
    return round(float(np.median(samples)) * 1000.0, 2)


def _gallery_changes(store, library, repeat: int) -> dict:
    """A whole reload (start-up, restore) against the admin's and a fleet mirror's change of one
    person (made inactive, then active again) applied by sync_gallery."""
    with store.session() as s:
        someone = s.scalar(select(Staff).order_by(Staff.id.desc()).limit(1)).id
    reload_s, off_s, on_s, idle_s = [], [], [], []
    for _ in range(max(3, repeat // 3)):
        t0 = time.perf_counter()
        library.load_gallery()
        reload_s.append(time.perf_counter() - t0)
    for _ in range(repeat):
        for active, samples in ((False, off_s), (True, on_s)):
            with store.session() as s:
                s.get(Staff, someone).active = active
            t0 = time.perf_counter()
            library.sync_gallery({someone})
            samples.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        library.sync_gallery()
        idle_s.append(time.perf_counter() - t0)
    return {"gallery_reload_ms": _median_ms(reload_s), "gallery_sync_one_person_leaves_ms": _median_ms(off_s),
            "gallery_sync_one_person_returns_ms": _median_ms(on_s), "gallery_sync_nothing_changed_ms": _median_ms(idle_s)}


def _random_vector(embedder, rng) -> np.ndarray:
    members = getattr(embedder, "members", (embedder,))
    return embedder.combine({k: unit_rows(rng.normal(size=(1, m.dim))) for k, m in zip(embedder.kinds, members)})[0]


def run(models, config, people: int = 2000, repeat: int = 15) -> dict:
    photo = registry_face_images()["obama.jpg"].read_bytes()
    parts = VisionParts.load(models, config.vision)
    rule = DecisionRule.from_config(config.recognition, config.vision.embedder)
    with tempfile.TemporaryDirectory(prefix="daka-bench-enrol-") as tmp:
        instance = Instance(Path(tmp) / "instance").prepare()
        store = open_store(config, instance)
        try:
            _random_people(store, parts.embedder, people)
            gallery = FaceGallery()
            library = FaceLibrary(store, parts, gallery, instance.photos_dir, config.library,
                                  max_bytes=config.storage.photo_max_mb * 1024 * 1024,
                                  detect_threads=config.vision.detect_threads)
            changes = _gallery_changes(store, library, repeat)   # leaves the gallery loaded
            enrol_ms, threshold_us, add_ms, remove_ms = [], [], [], []
            rng = np.random.default_rng(5)
            for i in range(repeat + 2):   # two warm-up rounds
                t0 = time.perf_counter()
                result = library.enroll(photo, Identity("B0001", "奥巴马"))
                t1 = time.perf_counter()
                threshold = rule.threshold_in(gallery)
                t2 = time.perf_counter()
                if not result.ok:
                    raise RuntimeError(f"the benchmark photo was refused: {result.reason} {result.detail}")
                library.remove_template(result.template_id)
                # the gallery's part alone: one photo in (index and cohort), then out
                vector = _random_vector(parts.embedder, rng)
                t3 = time.perf_counter()
                gallery.add(1 << 40, 1 << 40, vector)
                t4 = time.perf_counter()
                gallery.remove_templates([1 << 40])
                t5 = time.perf_counter()
                if i >= 2:
                    enrol_ms.append((t1 - t0) * 1000.0)
                    threshold_us.append((t2 - t1) * 1e6)
                    add_ms.append((t4 - t3) * 1000.0)
                    remove_ms.append((t5 - t4) * 1000.0)
        finally:
            store.dispose()
    return {"command": "daka bench enrol --json",
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "embedder": config.vision.embedder, "gallery_people": people, "runs": repeat,
            "enrol_one_photo_ms": round(float(np.median(enrol_ms)), 2),
            "enrol_one_photo_fastest_ms": round(float(min(enrol_ms)), 2),
            "decision_recomputation_us": round(float(np.median(threshold_us)), 2),
            "gallery_add_one_photo_ms": round(float(np.median(add_ms)), 2),
            "gallery_remove_one_photo_ms": round(float(np.median(remove_ms)), 2),
            **changes,
            "threshold_now": round(float(threshold), 4),
            "target_ms": 100.0}

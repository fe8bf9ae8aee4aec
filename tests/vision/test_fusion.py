"""dlib + faceres fused: the similarity rule, the decision on real photos, templates per model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from app import native
from app.bench.clip import find_actor
from app.config import load_config_file
from app.library import FaceLibrary
from app.store import FaceTemplate
from app.vision.decision import DecisionRule
from app.vision.embedders import DlibEmbedder, FusedEmbedder, open_embedder, unit_rows
from app.vision.engine import VisionParts
from app.vision.gallery import FaceGallery
from app.vision.pipeline import PipelineSettings, VisionPipeline

from tests.helpers.vision_scenes import place

OBAMA, BIDEN = 1, 2
DEFAULTS = load_config_file(None, env={})


@pytest.fixture(scope="module")
def fused(models):
    embedder = open_embedder(models, DEFAULTS.vision)
    assert isinstance(embedder, FusedEmbedder), "the default embedder is the fusion"
    return embedder


@pytest.fixture(scope="module")
def described(frames, fused, landmarks):
    detector = native.FaceDetector()
    out = {}
    for name, frame in frames.items():
        boxes, _, _ = detector.detect(frame, upsample=1)
        out[name] = fused.describe(frame, landmarks.predict(frame, boxes[:1]))
    return out


def test_fused_similarity_is_the_weighted_mean_of_the_two(described, fused):
    a, b = described["obama.jpg"], described["obama2.jpg"]
    cos = {k: float(unit_rows(a.parts[k])[0] @ unit_rows(b.parts[k])[0]) for k in fused.kinds}
    va, vb = fused.combine(a.parts)[0], fused.combine(b.parts)[0]
    w = DEFAULTS.vision.fusion_dlib_weight
    assert float(va @ vb) == pytest.approx(w * cos[fused.kinds[0]] + (1 - w) * cos[fused.kinds[1]], abs=1e-5)
    assert np.linalg.norm(va) == pytest.approx(1.0, abs=1e-5)


def test_fusion_separates_the_photos_at_the_configured_threshold(described, fused):
    rule = DecisionRule.from_config(DEFAULTS.recognition, "fused")
    v = {n: fused.combine(d.parts)[0] for n, d in described.items()}
    same = [v["obama.jpg"] @ v["obama2.jpg"], v["obama.jpg"] @ v["obama3.jpg"], v["obama2.jpg"] @ v["obama3.jpg"]]
    other = [v[n] @ v["biden.jpg"] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    assert min(same) >= rule.threshold > max(other), (same, other, rule.threshold)


def _fused_pipeline(models, fused, landmarks, described, enrol=("obama.jpg", "biden.jpg")):
    gallery = FaceGallery()
    for template, name in enumerate(enrol, start=1):
        gallery.add(template, OBAMA if name.startswith("obama") else BIDEN, fused.combine(described[name].parts)[0])
    rule = DecisionRule.from_config(DEFAULTS.recognition, "fused")
    return VisionPipeline(native.FaceDetector(), landmarks, fused, gallery, rule,
                          PipelineSettings(detect_every_n_frames=1, idle_motion_level=0))


def test_fused_pipeline_names_an_enrolled_person_with_gender_and_age(models, frames, fused, landmarks, described):
    pipeline = _fused_pipeline(models, fused, landmarks, described)
    actor = find_actor("obama2.jpg", frames["obama2.jpg"], native.FaceDetector())
    results = [pipeline.process(place(actor, centre=(320 + 4 * i, 230))) for i in range(4)]
    final = results[-1].tracks[0].recognition
    assert final.staff_id == OBAMA and final.reason == "accepted", final
    assert final.attributes is not None and final.attributes.gender == "male"
    assert 25 <= final.attributes.age <= 90


def test_fused_pipeline_calls_a_stranger_unknown(models, frames, fused, landmarks, described):
    pipeline = _fused_pipeline(models, fused, landmarks, described, enrol=("obama.jpg",))
    actor = find_actor("biden.jpg", frames["biden.jpg"], native.FaceDetector())
    for i in range(4):
        result = pipeline.process(place(actor, centre=(320 + 4 * i, 230)))
    recognition = result.tracks[0].recognition
    assert recognition.staff_id is None and recognition.reason == "below_threshold", recognition


# -- enrolment: one template row per model ----------------------------------------------------


@pytest.fixture
def fused_library(store, instance, models, fused, landmarks):
    config = store.app.config["DAKA_CONFIG"]
    lib = FaceLibrary(store, VisionParts(landmarks, fused), FaceGallery(), instance.photos_dir, config.library,
                      max_bytes=8 << 20)
    lib.load_gallery()
    return lib


def _rows(store):
    with store.session() as s:
        return [(t.id, t.model_id, t.photo_file, len(t.descriptor) // 4)
                for t in s.scalars(select(FaceTemplate).order_by(FaceTemplate.id))]


def test_enrolment_stores_both_templates_and_removal_takes_both(fused_library, photos, store, instance):
    result = fused_library.enroll_file(photos["obama.jpg"].read_bytes(), "HR1_Obama.jpg")
    assert result.ok, result
    rows = _rows(store)
    assert [(m, d) for _, m, _, d in rows] == [("dlib_face_recognition_resnet_model_v1", 128), ("faceres", 1024)]
    assert rows[0][0] == result.template_id and rows[0][2] == rows[1][2]   # the primary first, one photo
    assert len(fused_library.gallery) == 1 and fused_library.gallery.dim == 1152
    assert fused_library.enroll_file(photos["biden.jpg"].read_bytes(), "HR2_Biden.jpg").ok
    probe = fused_library.analyse(cv2.imread(str(photos["obama2.jpg"])))
    assert probe.attributes.gender == "male"
    match = fused_library.gallery.match(probe.vector)
    with store.session() as s:
        assert s.get(FaceTemplate, match.template_id).original_name == "HR1_Obama.jpg"
    assert fused_library.remove_template(result.template_id)
    assert [m for _, m, _, _ in _rows(store)] == ["dlib_face_recognition_resnet_model_v1", "faceres"]
    assert not (instance.photos_dir / rows[0][2]).exists() and len(fused_library.gallery) == 1


def test_reindex_adds_the_missing_model_to_old_templates(store, instance, landmarks, fused, photos, fused_library):
    config = store.app.config["DAKA_CONFIG"]
    dlib = DlibEmbedder(fused.members[0].descriptor, flip=True)
    dlib_only = FaceLibrary(store, VisionParts(landmarks, dlib), FaceGallery(), instance.photos_dir, config.library,
                            max_bytes=8 << 20)
    assert dlib_only.enroll_file(photos["obama.jpg"].read_bytes(), "HR1_Obama.jpg").ok
    assert dlib_only.enroll_file(photos["biden.jpg"].read_bytes(), "HR2_Biden.jpg").ok
    assert [m for _, m, _, _ in _rows(store)] == ["dlib_face_recognition_resnet_model_v1"] * 2
    assert fused_library.load_gallery() == 0 and fused_library.incomplete == 2   # needs faceres templates
    report = fused_library.reindex()
    assert report["updated"] == 2 and report["failed"] == [] and report["templates"] == 2
    assert sorted(m for _, m, _, _ in _rows(store)) == ["dlib_face_recognition_resnet_model_v1"] * 2 + ["faceres"] * 2
    assert len(fused_library.gallery) == 2 and fused_library.incomplete == 0
    again = fused_library.reindex()   # idempotent: rows are updated, not added
    assert again["updated"] == 2 and len(_rows(store)) == 4


def test_bench_faceres_command_reports_both_figures(tmp_path, capsys):
    import json

    from app.cli.main import main

    assert main(["--instance", str(tmp_path / "inst"), "bench", "faceres", "--repeat", "3", "--tfjs-runs", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    forward, recognise = out["faceres_forward"], out["recognise_one_face"]
    assert forward["ours_ms"] > 0 and forward["baseline_ms"] is None
    assert recognise["ours_ms"] > 0 and recognise["baseline_ms"] > 0 and "fused" in recognise["what"]


def test_bench_enrol_command_measures_enrolment_and_the_galleries_changes(tmp_path, capsys):
    import json

    from app.cli.main import main

    assert main(["--instance", str(tmp_path / "inst"), "bench", "enrol", "--people", "40", "--repeat", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gallery_people"] == 40 and out["embedder"] == "fused"
    for key in ("enrol_one_photo_ms", "gallery_reload_ms", "gallery_sync_one_person_leaves_ms",
                "gallery_sync_one_person_returns_ms", "gallery_sync_nothing_changed_ms"):
        assert out[key] > 0, key
    assert 0.5 < out["threshold_now"] < 1.5

"""The synthetic attack generator (seedable, prefix-stable) and `daka eval liveness` on a tiny sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import native
from app.vision.liveness import CameraModel, LivenessPolicy, TrackLiveness
from app.vision.liveness.camera import eye_distance_px
from app.vision.liveness.synth import AttackGenerator

CAMERA = CameraModel.for_frame(640, 480)
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def obama_photo(frames, models):
    image = frames["obama.jpg"]
    boxes, _, _ = native.FaceDetector().detect(image, downscale=0, min_face=80)
    shapes = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks"))).predict(image, boxes[:1])
    return image, shapes[0]


@pytest.fixture(scope="module")
def reader(models):
    detector = native.FaceDetector()
    shapes = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))

    def read(frame):
        boxes, _, _ = detector.detect(frame, downscale=0, min_face=40)
        return shapes.predict(frame, boxes[:1])[0] if len(boxes) else None
    return read


def test_same_seed_same_attack_and_a_longer_run_starts_alike(obama_photo):
    image, marks = obama_photo
    gen = AttackGenerator(CAMERA)
    a = gen.sequence(image, marks, "phone_screen", "plausible", frames=6, seed=11)
    b = gen.sequence(image, marks, "phone_screen", "plausible", frames=10, seed=11, turn_from=6)
    c = gen.sequence(image, marks, "phone_screen", "plausible", frames=6, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames[:6]))
    assert a.distances_mm == b.distances_mm[:6]
    assert not np.array_equal(a.frames[0], c.frames[0])
    # the generator's own seed draws the sequence seeds
    assert np.array_equal(AttackGenerator(CAMERA, seed=3).sequence(image, marks, "a4_print", "plausible", 2).frames[1],
                          AttackGenerator(CAMERA, seed=3).sequence(image, marks, "a4_print", "plausible", 2).frames[1])


def test_a_rendered_phone_attack_is_found_and_refused(obama_photo, reader):
    image, marks = obama_photo
    seq = AttackGenerator(CAMERA).sequence(image, marks, "phone_screen", "implausible", frames=8, seed=5)
    assert seq.frames[0].shape == (480, 640, 3)
    detected = [reader(f) for f in seq.frames]
    found = [i for i, m in enumerate(detected) if m is not None]
    assert len(found) >= 6
    for i in found:   # the detector sees the face where the generator put it
        assert np.abs(detected[i] - seq.truth[i]).max() < 0.25 * eye_distance_px(seq.truth[i])
    track = TrackLiveness(LivenessPolicy.for_level("normal"), CAMERA)
    states = [track.update(detected[i], seq.distances_mm[i]).state for i in found]
    assert states[-1] == "spoof" and "live" not in states


def test_a_life_size_print_fits_the_size_and_shows_no_depth(obama_photo, reader):
    image, marks = obama_photo
    seq = AttackGenerator(CAMERA).sequence(image, marks, "a4_print", "plausible", frames=20, seed=8, still=True)
    detected = [(reader(f), d, cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)) for f, d in zip(seq.frames, seq.distances_mm)]
    detected = [(m, d, g) for m, d, g in detected if m is not None]
    # landmarks only (no frames: the parallax cue cannot run): the size fits, normal passes it
    normal = TrackLiveness(LivenessPolicy.for_level("normal"), CAMERA)
    assert [normal.update(m, d).state for m, d, _ in detected][-1] == "live"
    # with the frames: no depth; asked to turn the head, at normal and strict alike
    for level in ("normal", "strict"):
        track = TrackLiveness(LivenessPolicy.for_level(level), CAMERA)
        results = [track.update(m, d, gray=g) for m, d, g in detected]
        assert "live" not in [r.state for r in results] and results[-1].state == "challenge", level
        assert results[-1].scale.verdict == "consistent" and results[-1].parallax.verdict == "unseen"


@pytest.mark.slow   # ~1-2 min: renders and detects ~600 frames
@pytest.mark.skipif(not (DATA / "faces").is_dir(), reason="third-party face photos not present")
def test_eval_liveness_reports_rates_per_level(tmp_path):
    extras = tmp_path / "extras"
    extras.mkdir()
    if (DATA / "extras" / "spoof").is_dir():
        (extras / "spoof").symlink_to(DATA / "extras" / "spoof")
    out = subprocess.run([sys.executable, "-m", "app.cli.main", "--instance", str(tmp_path / "inst"), "eval",
                          "liveness", "--faces", str(DATA / "faces"), "--extras", str(extras), "--per-cell", "1",
                          "--live", "8", "--json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert {"off", "normal", "strict", "normal_no_parallax"} <= set(result["summary"])
    assert result["summary"]["off"]["apcer_percent_all_attacks"] == 100.0
    live = result["bona_fide_simulated"]
    # `off` refuses only the heads the detector never found in any frame
    assert result["summary"]["off"]["bpcer_percent"] == round(100.0 * live["never_detected"] / live["attempts"], 2)
    assert result["attacks"]["phone_screen/implausible"]["apcer_percent"]["normal"] == 0.0
    if (extras / "spoof").exists():
        assert {s["label"] for s in result["samples"]} == {"live", "print_attack", "replay_attack"}
        assert all(s["face_found"] for s in result["samples"])


def test_eval_liveness_refuses_unknown_cells(tmp_path):
    out = subprocess.run([sys.executable, "-m", "app.cli.main", "--instance", str(tmp_path / "inst"), "eval",
                          "liveness", "--faces", str(tmp_path), "--cells", "hologram/plausible"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown attack cell" in out.stderr and out.stdout == ""

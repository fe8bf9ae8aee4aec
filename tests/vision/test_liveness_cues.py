"""Liveness cues and decision on constructed sequences (no data needed): plane vs 3D, scale fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.vision.liveness import CameraModel, LivenessPolicy, TrackLiveness, calibrate_focal_px
from app.vision.liveness.camera import eye_distance_px
from app.vision.liveness.cues import (
    ABSTAIN, CONSISTENT, DEPTH, INCONSISTENT, PLANE, planarity_cue, planarity_measures, scale_cue,
)
from app.vision.liveness.synth import FACE_POINTS_MM, HEAD_PIVOT_MM, LiveHeadSimulator, project, rotation

CAMERA = CameraModel.for_frame(640, 480)


def turning(points: np.ndarray, distance: float = 500.0, frames: int = 30, degrees: float = 20.0) -> np.ndarray:
    """Landmarks of a point set turning left-right and nodding in front of the camera, noise-free."""
    out = []
    for k in range(frames):
        phase = 2 * math.pi * k / frames
        r = rotation(math.radians(degrees) * math.sin(phase), math.radians(0.5 * degrees) * math.cos(phase), 0.0)
        cam = (points - HEAD_PIVOT_MM) @ r.T + HEAD_PIVOT_MM + np.array([0.0, 0.0, distance])
        out.append(project(cam, CAMERA))
    return np.array(out)


FLAT = FACE_POINTS_MM * np.array([1.0, 1.0, 0.0])   # the same face printed on paper


def test_imx219_focal_length_from_the_field_of_view():
    # 77 degrees diagonal over 800 px: 400 / tan(38.5 deg)
    assert CAMERA.focal_px == pytest.approx(400 / math.tan(math.radians(38.5)))
    assert CameraModel.for_frame(1280, 960).focal_px == pytest.approx(2 * CAMERA.focal_px)
    assert CameraModel.for_frame(1280, 720, focal_px_at_640=520.0).focal_px == pytest.approx(1040.0)


def test_focal_calibration_recovers_the_focal_length():
    true = CameraModel(540.0, 640, 480)
    distances = [400.0, 550.0, 700.0]
    eye_px = [true.eye_px_at(d) for d in distances]
    assert calibrate_focal_px(eye_px, distances, 640) == pytest.approx(540.0)
    assert calibrate_focal_px([x * 2 for x in eye_px], distances, 1280) == pytest.approx(540.0)
    with pytest.raises(ValueError):
        calibrate_focal_px([30.0], [0.0], 640)


def test_a_turning_head_has_depth_a_turning_plane_has_none():
    head_depth, head_turn = planarity_measures(turning(FACE_POINTS_MM))
    plane_depth, plane_turn = planarity_measures(turning(FLAT, distance=2000.0))
    assert head_depth > 0.01
    assert plane_depth < 0.002            # at a distance a plane is an affine image of itself
    assert plane_turn > 0.015             # ... that visibly tilted (foreshortening: 1 - cos)
    assert planarity_cue(turning(FACE_POINTS_MM), 8, 0.01, 0.015, 0.005).verdict == DEPTH
    assert planarity_cue(turning(FLAT, distance=2000.0), 8, 0.01, 0.015, 0.005).verdict == PLANE


def test_planarity_abstains_without_motion_or_frames():
    still = np.repeat(turning(FACE_POINTS_MM, frames=1), 20, axis=0)
    assert planarity_cue(still, 8, 0.01, 0.015, 0.005).verdict == ABSTAIN
    assert planarity_cue(turning(FACE_POINTS_MM)[:5], 8, 0.01, 0.015, 0.005).verdict == ABSTAIN


def test_scale_fits_a_real_face_and_not_a_phone():
    head = turning(FACE_POINTS_MM, distance=500.0, degrees=3.0)
    phone = turning(FACE_POINTS_MM * 0.45, distance=500.0 * 0.45, degrees=3.0)   # same pixels, held close
    assert np.allclose(eye_distance_px(head), eye_distance_px(phone), rtol=0.05)
    tof_head = [500.0] * len(head)    # the sensor sees the nose and cheeks, in front of the eyes
    tof_phone = [500.0 * 0.45] * len(phone)
    fits = scale_cue(head, tof_head, CAMERA, (49.0, 80.0))
    assert fits.verdict == CONSISTENT and fits.eye_mm == pytest.approx(62.0, abs=2.0)
    assert scale_cue(phone, tof_phone, CAMERA, (49.0, 80.0)).verdict == INCONSISTENT
    assert scale_cue(head, [None] * len(head), CAMERA, (49.0, 80.0)).verdict == ABSTAIN
    assert scale_cue(head[:2], tof_head[:2], CAMERA, (49.0, 80.0), min_frames=3).verdict == ABSTAIN


def run(policy, landmarks, distances):
    track = TrackLiveness(policy, CAMERA)
    return [track.update(m, d) for m, d in zip(landmarks, distances)]


def test_normal_level_passes_a_live_head_and_refuses_a_phone_for_good():
    head = turning(FACE_POINTS_MM, distance=500.0, degrees=3.0)
    states = [r.state for r in run(LivenessPolicy.for_level("normal"), head, [485.0] * len(head))]
    assert states[:2] == ["checking", "checking"] and states[2:] == ["live"] * (len(head) - 2)
    # a phone: refused, and it stays refused when its distance reading later fits by accident
    phone = turning(FACE_POINTS_MM * 0.45, distance=225.0, degrees=3.0)
    results = run(LivenessPolicy.for_level("normal"), phone, [225.0] * 5 + [485.0] * 25)
    assert results[2].state == "spoof" and results[-1].state == "spoof"
    assert results[-1].message() == "活体检测未通过" and results[-1].message("en") == "Liveness check failed"


def test_levels_without_a_distance_reading():
    head = turning(FACE_POINTS_MM, distance=500.0, degrees=3.0)
    none = [None] * len(head)
    assert run(LivenessPolicy.for_level("off"), head, none)[0].state == "live"
    assert run(LivenessPolicy.for_level("normal"), head, none)[-1].reason == "no_sensor"
    assert run(LivenessPolicy.for_level("normal"), head, none)[-1].state == "live"
    assert run(LivenessPolicy.for_level("strict"), head, none)[-1].state == "checking"
    with pytest.raises(ValueError):
        LivenessPolicy.for_level("paranoid")


def test_strict_level_needs_a_closer_fit():
    # a tablet showing a face with 52 mm eye distance: normal accepts it, strict does not
    tablet = turning(FACE_POINTS_MM * (52.0 / 62.0), distance=400.0, degrees=3.0)
    tof = [400.0] * len(tablet)
    assert run(LivenessPolicy.for_level("normal"), tablet, tof)[-1].state == "live"
    assert run(LivenessPolicy.for_level("strict"), tablet, tof)[-1].state == "spoof"


def test_live_head_simulator_is_seedable():
    a = LiveHeadSimulator(CAMERA, seed=3).sequence(20)
    b = LiveHeadSimulator(CAMERA, seed=3).sequence(20)
    c = LiveHeadSimulator(CAMERA, seed=4).sequence(20)
    assert np.array_equal(a.landmarks, b.landmarks) and a.distances_mm == b.distances_mm
    assert not np.array_equal(a.landmarks, c.landmarks)
    assert 54.0 <= a.meta["eye_mm"] <= 74.0


def test_a_reading_belongs_only_to_a_face_on_the_beam():
    # a small picture held off-axis, its pixel size tuned to the holder's distance the sensor reads
    phone = turning(FACE_POINTS_MM * 0.45, distance=225.0, degrees=3.0) + np.array([220.0, 0.0])
    holder = [500.0] * len(phone)
    results = run(LivenessPolicy.for_level("normal"), phone, holder)
    assert all(r.state == "checking" for r in results) and results[-1].reason == "off_centre"
    assert results[-1].message() == "请正对屏幕中央"
    assert results[-1].scale.frames == 0     # the holder's distance was never taken as the picture's
    # centred, the same picture gets the reading and fails it
    centred = run(LivenessPolicy.for_level("normal"), phone - np.array([220.0, 0.0]), [225.0] * len(phone))
    assert centred[-1].state == "spoof"


def test_a_second_face_beside_the_sensor_reading_is_not_passed_for_want_of_one():
    head = turning(FACE_POINTS_MM, distance=500.0, degrees=3.0)
    track = TrackLiveness(LivenessPolicy.for_level("normal"), CAMERA)
    states = [track.update(m, None, sensor_present=True).state for m in head]
    assert "live" not in states
    lonely = TrackLiveness(LivenessPolicy.for_level("normal"), CAMERA)
    assert [lonely.update(m, None).state for m in head][-1] == "live"   # no sensor at all: not caught

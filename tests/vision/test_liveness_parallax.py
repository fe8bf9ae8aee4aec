"""The parallax cue on constructed sequences: a flat picture vs a head with depth.

Frames come from real photos: the registry's face photos rendered by `LiveFaceRenderer` as a
head on a 3D face surface, and the same sequence with `flat=True` (the face flattened to one
plane, the same motion, room, blur and noise): the only difference between the two is depth.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.vision.liveness import CameraModel, LivenessPolicy, TrackLiveness
from app.vision.liveness.camera import eye_distance_px
from app.vision.liveness.headrender import LiveFaceRenderer
from app.vision.liveness.parallax import (ABSTAIN, DEPTH, UNSEEN, face_region, nose_points, parallax_cue,
                                          parallax_sample)

CAMERA = CameraModel.for_frame(640, 480)
THRESHOLD = LivenessPolicy().parallax_threshold


@pytest.fixture(scope="module")
def reader(models):
    """The terminal's detector and landmark model, as the eval reads every frame."""
    from app.eval.liveness import LandmarkReader

    return LandmarkReader(models).read


@pytest.fixture(scope="module")
def sequences(frames, reader):
    """{photo: (head, flat)}: 14 frames of a swaying head and of its flat control, with the
    detector's landmarks and grey frames."""
    out = {}
    for name in ("obama.jpg", "biden.jpg"):
        photo = frames[name]
        marks = reader(photo, upsample=1)
        pair = []
        for flat in (False, True):
            seq = LiveFaceRenderer(CAMERA, fps=25.0).sequence(photo, marks, frames=14, seed=11, flat=flat)
            pair.append(([reader(f) for f in seq.frames], [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in seq.frames],
                         seq.distances_mm))
        out[name] = pair
    return out


def samples(marks, grays, gap=3):
    out = []
    for k in range(1, len(grays)):
        a = max(0, k - gap)
        if marks[a] is not None and marks[k] is not None:
            s = parallax_sample(grays[a], grays[k], marks[a], marks[k])
            if s is not None:
                out.append(s)
    return out


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
def test_a_head_shows_depth_and_its_flat_control_does_not(sequences, name):
    (head_marks, head_grays, _), (flat_marks, flat_grays, _) = sequences[name]
    head, flat = samples(head_marks, head_grays), samples(flat_marks, flat_grays)
    assert len(head) >= 8 and len(flat) >= 8
    head_res = np.array([s.residual for s in head])
    flat_res = np.array([s.residual for s in flat])
    # the flat control: the nose follows the rest's homography within the tracking noise
    assert np.median(flat_res) < 0.5 * THRESHOLD and flat_res.max() < THRESHOLD, flat_res
    assert np.median(head_res) > 2 * np.median(flat_res), (head_res, flat_res)
    assert parallax_cue(list(head_res), THRESHOLD, 2).verdict == DEPTH
    assert parallax_cue(list(flat_res), THRESHOLD, 2).verdict == UNSEEN
    # single points scatter about as much as the threshold: the nose's points moving as one decide
    assert np.median([s.rest for s in flat]) < THRESHOLD


def test_a_textured_plane_under_any_homography_shows_no_depth():
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (480, 640), dtype=np.uint8), (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    marks = np.array([[372.0, 200.0], [340.0, 201.0], [268.0, 200.0], [300.0, 201.0], [320.0, 245.0]])
    for tilt in (0.0, 2e-4, -3e-4):
        hom = np.array([[1.02, 0.01, -4.0], [-0.008, 0.99, 3.0], [tilt, 0.5 * tilt, 1.0]])
        moved = cv2.warpPerspective(texture, hom, (640, 480), flags=cv2.INTER_CUBIC)
        marks_b = cv2.perspectiveTransform(marks[None], hom)[0]
        s = parallax_sample(texture, moved, marks, marks_b)
        assert s is not None and s.points >= 20
        assert np.abs(marks_b - marks).max() > 1.0   # the plane did move
        assert s.residual < 0.3 * THRESHOLD, s


def test_nose_points_are_between_the_eyes_and_the_nose_base():
    marks = np.array([[372.0, 200.0], [340.0, 201.0], [268.0, 200.0], [300.0, 201.0], [320.0, 245.0]])
    eye = eye_distance_px(marks)
    inside = np.array([[320.0, 225.0], [325.0, 235.0], [320.0, 212.0]])
    outside = np.array([[356.0, 200.0], [284.0, 200.0], [320.0, 280.0], [320.0, 170.0], [320 + 0.4 * eye, 225.0]])
    assert nose_points(inside, marks).all()
    assert not nose_points(outside, marks).any()


def test_the_cue_needs_enough_samples_above_the_threshold():
    assert parallax_cue([], 0.006, 2).verdict == ABSTAIN
    assert parallax_cue([0.02], 0.006, 2).verdict == ABSTAIN          # one pair is not enough
    assert parallax_cue([0.02, 0.001, 0.001], 0.006, 2).verdict == UNSEEN
    ev = parallax_cue([0.02, 0.001, 0.009], 0.006, 2)
    assert ev.verdict == DEPTH and ev.residual == pytest.approx(0.009) and ev.samples == 3
    assert parallax_cue([0.02, 0.001, 0.009], 0.006, 3).verdict == UNSEEN
    # within a window: two isolated spikes far apart are noise, two close together are motion
    spikes = [0.02] + [0.001] * 10 + [0.02]
    assert parallax_cue(spikes, 0.006, 2).verdict == DEPTH
    assert parallax_cue(spikes, 0.006, 2, window=4).verdict == UNSEEN
    assert parallax_cue(spikes + [0.001, 0.008], 0.006, 2, window=4).verdict == DEPTH


def test_bad_input_is_no_sample_or_a_clear_error():
    grey = np.full((480, 640), 128, np.uint8)
    marks = np.array([[372.0, 200.0], [340.0, 201.0], [268.0, 200.0], [300.0, 201.0], [320.0, 245.0]])
    with pytest.raises(ValueError, match="differ in size"):
        parallax_sample(grey, np.zeros((240, 320), np.uint8), marks, marks)
    assert parallax_sample(grey, grey, marks, marks) is None                       # nothing to follow
    tiny = (marks - marks.mean(0)) * 0.2 + marks.mean(0)
    assert parallax_sample(grey, grey, tiny, tiny) is None                         # too small a face
    far = marks + np.array([2000.0, 2000.0])
    assert face_region((480, 640), far) is None and parallax_sample(grey, grey, far, far) is None
    nan = marks.copy()
    nan[0, 0] = np.nan
    assert parallax_sample(grey, grey, nan, nan) is None


def run(policy, marks, grays, distances, frames=None):
    track = TrackLiveness(policy, CAMERA)
    out = []
    for k in range(frames or len(marks)):
        i = k % len(marks) if frames is None else min(k, len(marks) - 1)
        if marks[i] is not None:
            out.append(track.update(marks[i], distances[i], gray=grays[i]))
    return out


def test_the_normal_level_passes_the_head_and_asks_the_flat_picture_to_turn(sequences):
    (head_marks, head_grays, head_tof), (flat_marks, flat_grays, flat_tof) = sequences["obama.jpg"]
    policy = LivenessPolicy.for_level("normal")
    head = run(policy, head_marks, head_grays, head_tof)
    assert head[-1].state == "live" and head[-1].reason == "depth", [r.as_dict() for r in head]
    # the flat control at the same (fitting) distance: size fits, no depth; held still after
    # its frames run out (the last frame repeated): asked to turn, then refused
    flat = run(policy, flat_marks, flat_grays, flat_tof,
               frames=policy.min_frames + policy.depth_wait + policy.challenge_frames + 2)
    states = [r.state for r in flat]
    assert "live" not in states and "challenge" in states and states[-1] == "spoof"
    assert flat[-1].reason == "challenge_timeout" and flat[-1].scale.verdict == "consistent"
    assert flat[-1].message() == "活体检测未通过"
    assert [r for r in flat if r.state == "challenge"][0].message() == "请缓慢转头"
    # without the parallax cue (or without frames) the size alone decides, as before
    plain = run(LivenessPolicy.for_level("normal", parallax_decides=False), flat_marks, flat_grays, flat_tof)
    assert plain[-1].state == "live" and plain[-1].reason == "size_fits"
    track = TrackLiveness(policy, CAMERA)
    assert [track.update(m, d).state for m, d in zip(flat_marks, flat_tof) if m is not None][-1] == "live"


def test_without_a_sensor_normal_still_needs_depth_and_strict_a_reading(sequences):
    (head_marks, head_grays, _), (flat_marks, flat_grays, _) = sequences["biden.jpg"]
    none = [None] * len(head_marks)
    normal = LivenessPolicy.for_level("normal")
    assert run(normal, head_marks, head_grays, none)[-1].state == "live"
    assert "live" not in [r.state for r in run(normal, flat_marks, flat_grays, none)]
    strict = run(LivenessPolicy.for_level("strict"), head_marks, head_grays, none)
    assert strict[-1].state == "checking" and strict[-1].reason == "no_sensor"


def test_a_face_that_never_gets_ready_keeps_a_bounded_history(sequences):
    """A second person off the beam for minutes: the samples kept stay a window; a head that has
    shown depth is not sampled again (no CPU spent on it)."""
    (head_marks, head_grays, _), _ = sequences["obama.jpg"]
    policy = LivenessPolicy.for_level("normal")
    track = TrackLiveness(policy, CAMERA)
    aside = [m + np.array([250.0, 0.0]) if m is not None else None for m in head_marks]
    shifted = [np.roll(g, 250, axis=1) for g in head_grays]
    for k in range(60):
        i = k % len(aside)
        if aside[i] is not None:
            r = track.update(aside[i], None, sensor_present=True, gray=shifted[i])
    assert r.state == "checking" and r.reason == "off_centre"
    assert len(track.residuals) <= policy.parallax_window and track.depth_seen
    calls = []
    track._sample_parallax = lambda *a: calls.append(a)
    track.update(aside[1], None, sensor_present=True, gray=shifted[1])
    assert calls == []

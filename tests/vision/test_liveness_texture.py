"""The periodic-texture cue on constructed images (no data needed): a grating laid over a face
region stands out of its spectrum; natural texture does not; and it decides at the normal level."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.vision.liveness import CameraModel, LivenessPolicy, TrackLiveness
from app.vision.liveness.texture import ABSTAIN, NATURAL, PERIODIC, periodic_peak, texture_cue

W, H, EYE = 640, 480, 60.0
LAYOUT = np.array([[0.75, -0.15], [0.25, -0.15], [-0.75, -0.15], [-0.25, -0.15], [0.0, 0.6]])
MARKS = np.array([320.0, 240.0]) + LAYOUT * EYE
THRESHOLD = LivenessPolicy().texture_threshold


def natural(seed: int) -> np.ndarray:
    """Smooth shading plus 1/f-like texture at several scales and a little sensor noise."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W), 120.0, np.float32)
    for cells, amp in ((4, 40), (16, 20), (64, 10), (200, 5)):
        noise = rng.normal(0, 1, (cells * H // W + 1, cells)).astype(np.float32)
        img += amp * cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)
    cv2.ellipse(img, (320, 250), (70, 95), 0, 0, 360, 170.0, -1)          # a face-like blob with an edge
    img = cv2.GaussianBlur(img, (0, 0), 0.8) + rng.normal(0, 2.0, (H, W)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def grating(img: np.ndarray, period: float, angle_deg: float, depth: float = 0.05) -> np.ndarray:
    """The same image seen through a periodic pattern (moire fringes / halftone beats)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    a = np.radians(angle_deg)
    pattern = 1 + depth * np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period)
    return np.clip(img * pattern, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("period, angle", [(4.0, 30.0), (7.0, 60.0), (11.0, 135.0)])
def test_a_grating_at_several_frequencies_and_orientations_is_a_peak(period, angle):
    base = natural(int(period))
    assert periodic_peak(grating(base, period, angle), MARKS) >= THRESHOLD
    assert periodic_peak(base, MARKS) < THRESHOLD


@pytest.mark.parametrize("seed", range(5))
def test_natural_texture_has_no_peak(seed):
    assert periodic_peak(natural(seed), MARKS) < THRESHOLD


def test_stripes_on_the_axes_are_left_out():
    # row/column patterns (sensor banding, a codec's block grid) are not counted
    assert periodic_peak(grating(natural(7), 6.0, 0.0, depth=0.08), MARKS) < THRESHOLD
    assert periodic_peak(grating(natural(7), 6.0, 90.0, depth=0.08), MARKS) < THRESHOLD


def test_too_small_or_cut_off_faces_are_not_measured():
    assert periodic_peak(natural(1), np.array([320.0, 240.0]) + LAYOUT * 10.0) is None
    assert periodic_peak(natural(1), np.array([20.0, 240.0]) + LAYOUT * EYE) is None


def test_the_cue_needs_its_samples():
    assert texture_cue([5.0, 6.0], 3.5, 3).verdict == ABSTAIN
    assert texture_cue([5.0, 6.0, 1.0], 3.5, 3).verdict == PERIODIC
    assert texture_cue([1.0, 6.0, 1.5], 3.5, 3).verdict == NATURAL


def test_the_normal_level_refuses_a_face_seen_through_a_screen():
    camera = CameraModel.for_frame(W, H)
    fits = camera.focal_px * 63.0 / EYE - 15.0     # the size fits a real face at this distance
    screen = [grating(natural(k), 5.0, 40.0 + k) for k in range(5)]
    track = TrackLiveness(LivenessPolicy.for_level("normal"), camera)
    states = [track.update(MARKS, fits, gray=g) for g in screen]
    assert "live" not in [s.state for s in states] and states[-1].state == "spoof"
    assert states[-1].reason == "texture" and states[-1].message() == "活体检测未通过"
    # judged by size and texture alone (these constructed frames are flat: the parallax cue
    # would ask them to turn, tests/vision/test_liveness_parallax.py): natural texture passes, and so
    # does the screen with the texture cue off
    alone = LivenessPolicy.for_level("normal", parallax_decides=False)
    live = TrackLiveness(alone, camera)
    assert [live.update(MARKS, fits, gray=natural(k)).state for k in range(5)][-1] == "live"
    off = TrackLiveness(LivenessPolicy.for_level("normal", texture_decides=False, parallax_decides=False), camera)
    assert [off.update(MARKS, fits, gray=g).state for g in screen][-1] == "live"


def test_with_a_sensor_the_texture_is_sampled_only_on_the_beam_and_the_grey_made_on_demand():
    camera = CameraModel.for_frame(W, H)
    fits = camera.focal_px * 63.0 / EYE - 15.0
    off_centre = MARKS + np.array([200.0, 0.0])        # walking in from the side: not on the beam
    made = []

    def grey_of(img):
        def make():
            made.append(1)
            return img
        return make

    track = TrackLiveness(LivenessPolicy.for_level("normal", parallax_decides=False), camera)
    screen = [grating(natural(k), 5.0, 40.0 + k) for k in range(8)]
    for g in screen[:5]:  # a sensor reads (another surface), the face is off the beam: no FFT, no grey
        assert track.update(off_centre, None, sensor_present=True, gray=grey_of(g)).state == "checking"
    assert made == [] and len(track.peaks) == 0
    # the parallax cue samples from the walk-in on: the grey is made once a frame, still no FFT
    walking = TrackLiveness(LivenessPolicy.for_level("normal"), camera)
    for g in screen[:5]:
        walking.update(off_centre, None, sensor_present=True, gray=grey_of(g))
    assert len(made) == 5 and len(walking.peaks) == 0 and len(walking.views) == 4
    made.clear()
    states = [track.update(MARKS, fits, sensor_present=True, gray=grey_of(g)).state for g in screen[5:]]
    assert len(made) == 3 and states[-1] == "spoof"   # on the beam: sampled, and the screen is caught
    # without a sensor there is no beam to wait for: sampled wherever the face is
    no_sensor = TrackLiveness(LivenessPolicy.for_level("normal"), camera)
    no_sensor.update(off_centre, None, sensor_present=False, gray=grey_of(screen[0]))
    assert len(no_sensor.peaks) == 1

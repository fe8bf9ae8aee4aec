"""The quality gate on real photos and on what a camera does to them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app import native
from app.vision.quality import REASONS, QualityThresholds, assess, pose_from_landmarks


@pytest.fixture(scope="module")
def face_parts(models):
    detector = native.FaceDetector()
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))

    def parts(frame):
        boxes, _, _ = detector.detect(frame)
        assert len(boxes) == 1
        shapes = landmarks.predict(frame, boxes)
        return boxes[0], shapes[0], native.extract_chips(frame, shapes)[0]

    return parts


def _assess(frame, parts, **limits):
    box, shape, chip = parts(frame)
    return assess(frame.shape, box, shape, chip, QualityThresholds(**limits))


def test_good_photos_pass(frames, face_parts):
    for name, frame in frames.items():
        q = _assess(frame, face_parts)
        assert q.ok and q.reason is None, (name, q)
        assert 0.3 < q.score <= 1.0, (name, q.score)
        assert q.message() == ""


def test_small_face_asks_to_come_closer(frames, face_parts):
    frame = frames["obama.jpg"]
    small = cv2.resize(frame, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    q = _assess(small, face_parts, min_face_px=100)
    assert q.reason == "too_small" and q.message() == "请靠近" and q.message("en") == "Please come closer"


def test_dark_and_blurred_views_are_refused(frames, face_parts):
    frame = frames["obama.jpg"]
    box, shape, chip = face_parts(frame)
    dark = (chip.astype(np.float32) * 0.2).astype(np.uint8)
    assert assess(frame.shape, box, shape, dark).reason == "too_dark"
    bright = np.clip(chip.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    assert assess(frame.shape, box, shape, bright).reason == "too_bright"
    blurred = cv2.GaussianBlur(chip, (0, 0), 2.5)
    q = assess(frame.shape, box, shape, blurred)
    assert q.reason == "blurry" and q.message() == "请保持不动"
    assert q.score < assess(frame.shape, box, shape, chip).score


def test_face_cut_by_the_frame_edge(photos, face_parts):
    frame = cv2.imread(str(photos["obama_partial_face.jpg"]))
    q = _assess(frame, face_parts)
    assert not q.inside and q.reason == "partial" and q.score == 0.0


def test_pose_from_landmarks_geometry():
    upright = np.array([[60, 50], [52, 50], [28, 50], [36, 50], [44, 70]], np.float32)
    distance, yaw, pitch, roll = pose_from_landmarks(upright)
    assert distance == pytest.approx(24.0) and yaw == pytest.approx(0.0) and abs(roll) < 1e-9
    assert pitch == pytest.approx(20 / 24)
    turned = upright.copy()
    turned[4, 0] += 14  # nose towards one eye: the head is turned
    assert pose_from_landmarks(turned)[1] == pytest.approx(14 / 24)
    # Rotating all points by 30 degrees changes roll only.
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = upright @ rot.T
    d2, y2, p2, r2 = pose_from_landmarks(rolled)
    assert (d2, y2, p2) == pytest.approx((distance, yaw, pitch)) and r2 == pytest.approx(30.0)


def test_turned_head_asks_to_face_the_camera(frames, face_parts):
    frame = frames["obama.jpg"]
    box, shape, chip = face_parts(frame)
    turned = shape.copy()
    eye_distance = pose_from_landmarks(shape)[0]
    turned[4, 0] += 0.45 * eye_distance
    q = assess(frame.shape, box, turned, chip)
    assert q.reason == "not_frontal" and q.message() == "请正对摄像头"


def test_every_reason_has_both_languages():
    from app.i18n import text

    assert len(REASONS) == 6
    for code in REASONS:
        zh, en = text(f"quality.{code}", "zh_CN"), text(f"quality.{code}", "en")
        assert zh and en and zh != en, code

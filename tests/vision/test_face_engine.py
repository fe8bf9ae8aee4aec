"""The native face engine against dlib's own Python wheel, and the ONNX descriptors against dlib."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app import native
from app.vision.descriptors import DlibDescriptor, OnnxDescriptor

from tests.helpers.gil import python_keeps_running_during

dlib = pytest.importorskip("dlib", reason="dlib-bin (test extra) provides the reference wheel")


@pytest.fixture(scope="module")
def onnx(models):
    return OnnxDescriptor(models.onnx, threads=1)


@pytest.fixture(scope="module")
def dlib_path(models):
    return DlibDescriptor(models.path("dlib_face_recognition_resnet_model_v1"))


def _chips_of(frame, detector, landmarks):
    boxes, _, _ = detector.detect(frame)
    shapes = landmarks.predict(frame, boxes)
    return native.extract_chips(frame, shapes)


def test_colour_hog_matches_dlib_wheel(frames, detector):
    reference = dlib.get_frontal_face_detector()
    for name, frame in frames.items():
        ours, scores, _ = detector.detect(frame, downscale=1.0, upsample=1, grayscale=False)
        theirs = reference(np.ascontiguousarray(frame[:, :, ::-1]), 1)
        expected = sorted((r.left(), r.top(), r.right(), r.bottom()) for r in theirs)
        assert sorted(tuple(int(v) for v in b) for b in ours) == expected, name
        assert len(ours) == 1 and scores[0] > 0


def test_grayscale_and_terminal_settings_find_the_same_face(frames, detector):
    for name, frame in frames.items():
        (ref,), _, _ = detector.detect(frame, downscale=1.0, upsample=1, grayscale=False)
        boxes, _, _ = detector.detect(frame, downscale=0, min_face=100)  # derived scale
        assert len(boxes) == 1, name
        inter = np.minimum(ref[2:], boxes[0][2:]) - np.maximum(ref[:2], boxes[0][:2])
        iou = np.prod(np.clip(inter, 0, None)) / np.prod(ref[2:] - ref[:2])
        assert iou > 0.6, (name, ref, boxes[0])


def test_two_thread_detection_finds_the_same_faces(photos, detector):
    import cv2

    for name in ("obama.jpg", "obama2.jpg", "biden.jpg", "obama_partial_face.jpg", "32bit.png"):
        frame = cv2.imread(str(photos[name]))
        for options in ({"downscale": 1.0}, {"downscale": 0, "min_face": 100}, {"downscale": 0.5, "upsample": 1}):
            one = detector.detect(frame, threads=1, **options)
            two = detector.detect(frame, threads=2, **options)
            assert len(one[0]) == len(two[0]) >= 1, (name, options)
            np.testing.assert_allclose(two[1], one[1], rtol=1e-9)  # same windows fired
            assert np.abs(two[0] - one[0]).max() <= 2, (name, options, one[0], two[0])
    with pytest.raises(ValueError, match="threads"):
        detector.detect(frame, threads=3)


def test_min_face_drops_small_faces(frames, detector):
    frame = frames["obama.jpg"]
    (box,), _, _ = detector.detect(frame, downscale=1.0)
    width = box[2] - box[0] + 1
    assert len(detector.detect(frame, downscale=1.0, min_face=int(width) + 1)[0]) == 0
    assert len(detector.detect(frame, downscale=1.0, min_face=int(width) - 1)[0]) == 1


def test_landmarks_and_chips_match_dlib_wheel(frames, detector, landmarks, models):
    predictor = dlib.shape_predictor(str(models.path("shape_predictor_5_face_landmarks")))
    for name, frame in frames.items():
        boxes, _, _ = detector.detect(frame)
        ours = landmarks.predict(frame, boxes)
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        left, top, right, bottom = (int(v) for v in boxes[0])
        shape = predictor(rgb, dlib.rectangle(left, top, right, bottom))
        theirs = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        np.testing.assert_array_equal(ours[0], theirs, err_msg=name)
        chip = native.extract_chips(frame, ours)[0]
        their_chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)[:, :, ::-1]
        assert np.abs(chip.astype(int) - their_chip.astype(int)).max() <= 1, name


def test_onnx_descriptors_equal_dlib_on_real_photos(frames, detector, landmarks, onnx, dlib_path):
    chips = np.concatenate([_chips_of(f, detector, landmarks) for f in frames.values()])
    assert chips.shape == (4, 150, 150, 3)
    ours = onnx.compute(chips)
    reference = dlib_path.compute(chips)
    assert ours.shape == reference.shape == (4, 128)
    assert np.abs(ours - reference).max() < 1e-5
    # Batch and single calls agree.
    np.testing.assert_allclose(onnx.compute(chips[1:2])[0], ours[1], atol=1e-6)


def test_descriptors_separate_people(frames, detector, landmarks, onnx):
    d = {n: onnx.compute(_chips_of(f, detector, landmarks))[0] for n, f in frames.items()}
    same = [np.linalg.norm(d["obama.jpg"] - d[n]) for n in ("obama2.jpg", "obama3.jpg")]
    other = [np.linalg.norm(d[n] - d["biden.jpg"]) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    assert max(same) < 0.6 < min(other), (same, other)


def test_onnx_matches_dlib_wheel_descriptor(frames, detector, landmarks, onnx, models):
    net = dlib.face_recognition_model_v1(str(models.path("dlib_face_recognition_resnet_model_v1")))
    chip = _chips_of(frames["biden.jpg"], detector, landmarks)
    theirs = np.array(net.compute_face_descriptor(np.ascontiguousarray(chip[0][:, :, ::-1])))
    assert np.abs(onnx.compute(chip)[0] - theirs).max() < 1e-4


@pytest.mark.parametrize("path", ["onnx", "dlib"])
def test_descriptor_releases_the_gil(path, onnx, dlib_path, frames, detector, landmarks, monkeypatch):
    monkeypatch.setattr("sys.getswitchinterval", lambda: 0.001, raising=False)
    chip = _chips_of(frames["obama.jpg"], detector, landmarks)
    backend = onnx if path == "onnx" else dlib_path
    batch = np.ascontiguousarray(np.repeat(chip, 24 if path == "onnx" else 6, axis=0))
    duration, gap = python_keeps_running_during(lambda: backend.compute(batch))
    assert duration > 0.05
    # Holding the GIL would leave one gap as long as the whole call.
    assert gap < duration / 3, (duration, gap)


def test_detection_releases_the_gil(detector, frames):
    frame = np.ascontiguousarray(np.tile(frames["obama.jpg"], (3, 3, 1)))
    duration, gap = python_keeps_running_during(lambda: detector.detect(frame, upsample=1))
    assert duration > 0.05
    assert gap < duration / 3, (duration, gap)


def test_worker_threads_get_the_same_results(frames, detector, landmarks, onnx):
    chips = np.concatenate([_chips_of(f, detector, landmarks) for f in frames.values()])
    expected = onnx.compute(chips)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                boxes, _, _ = detector.detect(frames["biden.jpg"])
                results.append((len(boxes), onnx.compute(chips)))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 9
    for count, desc in results:
        assert count == 1
        np.testing.assert_allclose(desc, expected, atol=1e-6)


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((480, 640, 3), np.float32), "uint8"),
        (np.zeros((480, 640), np.uint8), "shape"),
        (np.zeros((480, 640, 4), np.uint8), "shape"),
        (np.zeros((640, 480, 3), np.uint8).transpose(1, 0, 2), "packed"),
        (np.zeros((0, 640, 3), np.uint8), "empty"),
    ],
)
def test_bad_frames_are_clear_errors(detector, frame, message):
    with pytest.raises((TypeError, ValueError), match=message):
        detector.detect(frame)


def test_detect_option_errors(detector):
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="downscale"):
        detector.detect(frame, downscale=2.0)
    with pytest.raises(ValueError, match="upsample"):
        detector.detect(frame, upsample=7)
    assert detector.detect(np.zeros((20, 20, 3), np.uint8))[0].shape == (0, 4)


def test_crop_views_are_accepted(frames, detector):
    frame = frames["obama.jpg"]
    (box,), _, _ = detector.detect(frame)
    crop = frame[40:, 300:]  # strided rows, packed pixels: read without a copy
    assert not crop.flags["C_CONTIGUOUS"]
    (cbox,), _, _ = detector.detect(crop)
    np.testing.assert_array_equal(cbox, detector.detect(np.ascontiguousarray(crop))[0][0])
    # Boxes snap to the HOG cell grid of the pyramid level that fired (~8 px x scale).
    tolerance = 0.1 * (box[2] - box[0])
    assert abs(cbox[0] + 300 - box[0]) <= tolerance and abs(cbox[1] + 40 - box[1]) <= tolerance


def test_landmark_and_chip_input_errors(landmarks, models):
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        landmarks.predict(frame, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="right < left"):
        landmarks.predict(frame, np.array([[50, 50, 10, 60]], float))
    with pytest.raises(ValueError, match=r"\(n, 5, 2\)"):
        native.extract_chips(frame, np.zeros((1, 68, 2), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        native.extract_chips(frame, np.full((1, 5, 2), np.nan, np.float32))


def test_model_loading_errors(models, tmp_path):
    with pytest.raises(RuntimeError, match="cannot open"):
        native.LandmarkModel(str(tmp_path / "missing.dat"))
    with pytest.raises(RuntimeError, match="not a dlib shape predictor|5-point"):
        native.LandmarkModel(str(models.path("dlib_face_recognition_resnet_model_v1")))
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00not a model" * 100)
    with pytest.raises(RuntimeError, match="not a dlib face recognition ResNet"):
        native.DlibDescriptor(str(junk))


@pytest.mark.parametrize("chips", [np.zeros((1, 150, 150, 3), np.float32), np.zeros((1, 112, 112, 3), np.uint8)])
def test_descriptor_input_errors(onnx, dlib_path, chips):
    for backend in (onnx, dlib_path):
        with pytest.raises(ValueError, match=r"\(n, 150, 150, 3\)"):
            backend.compute(chips)
    assert onnx.compute(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_uint8_arrays_with_an_equal_but_distinct_dtype_are_accepted(frames, detector, landmarks, dlib_path):
    """Regression: the bindings compared dtypes by identity, so unpickled frames were refused."""
    import pickle

    frame = frames["obama.jpg"]
    copy = pickle.loads(pickle.dumps(frame))
    assert copy.dtype == np.uint8 and copy.dtype is not np.dtype(np.uint8)
    boxes, _, _ = detector.detect(copy)
    np.testing.assert_array_equal(boxes, detector.detect(frame)[0])
    shapes = landmarks.predict(copy, boxes)
    np.testing.assert_array_equal(shapes, landmarks.predict(frame, boxes))
    chips = pickle.loads(pickle.dumps(native.extract_chips(copy, shapes)))
    assert chips.dtype is not np.dtype(np.uint8)
    np.testing.assert_array_equal(chips, native.extract_chips(frame, shapes))
    np.testing.assert_array_equal(dlib_path.compute(chips), dlib_path.compute(native.extract_chips(frame, shapes)))

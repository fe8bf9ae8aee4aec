"""Array arguments of the native bindings: exactly what the C++ core reads, or a clear refusal.

Each bound function that takes an array refuses a wrong dtype, a wrong shape and a wrong
memory layout with a TypeError/ValueError naming the argument, what it expects and what it
got, instead of converting it (a silent copy, or garbage from a misread buffer). Right arrays
still give the results they gave: the face engine's against dlib's wheel in test_face_engine,
the gallery's against numpy in test_gallery. The text renderer's frame (drawn into in place)
has the same refusals, tested in test_text.
"""

from __future__ import annotations

import numpy as np
import pytest

from app import native


@pytest.fixture(scope="module")
def dlib_net(models):
    return native.DlibDescriptor(str(models.path("dlib_face_recognition_resnet_model_v1")))


@pytest.fixture(scope="module")
def face(frames, detector, landmarks):
    """A real frame, its boxes (float64 (n, 4)) and landmarks (float32 (n, 5, 2))."""
    frame = frames["obama.jpg"]
    boxes, _, _ = detector.detect(frame)
    assert len(boxes) == 1
    return frame, boxes, landmarks.predict(frame, boxes)


def _strided(a: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous view (every other element of a wider array)."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    view = wide[..., ::2]
    assert not view.flags["C_CONTIGUOUS"] and np.array_equal(view, a)
    return view


# --------------------------------------------------------------------------- frames

BAD_FRAMES = [
    (lambda f: f.astype(np.float64), TypeError, r"frame must have dtype uint8, got float64"),
    (lambda f: f.astype(np.int8), TypeError, r"frame must have dtype uint8, got int8"),
    (lambda f: np.dstack([f, f[..., :1]]), ValueError, r"frame must have shape \(H, W, 3\), got \(\d+, \d+, 4\)"),
    (lambda f: f[..., 0], ValueError, r"frame must have shape \(H, W, 3\), got \(\d+, \d+\)"),
    (lambda f: f[:, ::2], ValueError, r"frame must have packed BGR pixels.*got strides"),
    (lambda f: f[..., ::-1], ValueError, r"frame must have packed BGR pixels.*got strides"),
    (lambda f: f.tolist(), TypeError, r"frame must be a numpy.ndarray of dtype uint8 and shape \(H, W, 3\).*got list"),
]


@pytest.mark.parametrize("make, exc, match", BAD_FRAMES)
def test_every_frame_argument_refuses_wrong_arrays(face, detector, landmarks, make, exc, match):
    frame, boxes, shapes = face
    bad = make(frame)
    with pytest.raises(exc, match=match):
        detector.detect(bad)
    with pytest.raises(exc, match=match):
        landmarks.predict(bad, boxes)
    with pytest.raises(exc, match=match):
        native.extract_chips(bad, shapes)


def test_a_crop_is_read_in_place_with_the_same_results(face, landmarks):
    """Rows of a crop are strided but its pixels are packed: the core reads it without a copy."""
    frame, boxes, shapes = face
    crop = frame[20:, 10:]
    assert not crop.flags["C_CONTIGUOUS"]
    moved = np.ascontiguousarray(boxes - [10, 20, 10, 20])
    np.testing.assert_array_equal(landmarks.predict(crop, moved), landmarks.predict(np.ascontiguousarray(crop), moved))
    np.testing.assert_array_equal(landmarks.predict(crop, moved) + np.float32([10, 20]), shapes)
    chips = native.extract_chips(crop, np.ascontiguousarray(shapes - np.float32([10, 20])))
    np.testing.assert_array_equal(chips, native.extract_chips(frame, shapes))


# --------------------------------------------------------------------------- boxes

BAD_BOXES = [
    (lambda b: b.astype(np.int64), TypeError, r"boxes must have dtype float64, got int64"),
    (lambda b: b.astype(np.float32), TypeError, r"boxes must have dtype float64, got float32"),
    (lambda b: np.hstack([b, b[:, :1]]), ValueError, r"boxes must have shape \(n, 4\), got \(1, 5\)"),
    (lambda b: b[0], ValueError, r"boxes must have shape \(n, 4\), got \(4,\)"),
    (lambda b: b[None], ValueError, r"boxes must have shape \(n, 4\), got \(1, 1, 4\)"),
    (_strided, ValueError, r"boxes must be C-contiguous"),
    (lambda b: np.asfortranarray(np.vstack([b, b])), ValueError, r"boxes must be C-contiguous"),
    (lambda b: b.tolist(), TypeError, r"boxes must be a numpy.ndarray of dtype float64.*got list"),
]


@pytest.mark.parametrize("make, exc, match", BAD_BOXES)
def test_predict_refuses_wrong_boxes(face, landmarks, make, exc, match):
    frame, boxes, _ = face
    with pytest.raises(exc, match=match):
        landmarks.predict(frame, make(boxes))


def test_predict_refuses_non_finite_boxes(face, landmarks):
    frame, boxes, _ = face
    for value in (np.nan, np.inf):
        bad = boxes.copy()
        bad[0, 2] = value
        with pytest.raises(ValueError, match="boxes contain a non-finite value"):
            landmarks.predict(frame, bad)


def test_predict_takes_no_boxes(face, landmarks):
    frame, _, _ = face
    assert landmarks.predict(frame, np.zeros((0, 4))).shape == (0, 5, 2)


# --------------------------------------------------------------------------- landmarks

BAD_LANDMARKS = [
    (lambda s: s.astype(np.float64), TypeError, r"landmarks must have dtype float32, got float64"),
    (lambda s: s.astype(np.float16), TypeError, r"landmarks must have dtype float32, got float16"),
    (lambda s: s.reshape(1, 10), ValueError, r"landmarks must have shape \(n, 5, 2\), got \(1, 10\)"),
    (lambda s: s[0], ValueError, r"landmarks must have shape \(n, 5, 2\), got \(5, 2\)"),
    (lambda s: np.concatenate([s, s[..., :1]], axis=2), ValueError,
     r"landmarks must have shape \(n, 5, 2\), got \(1, 5, 3\)"),
    (_strided, ValueError, r"landmarks must be C-contiguous"),
    (lambda s: s[:, ::-1], ValueError, r"landmarks must be C-contiguous"),
    (lambda s: s.tolist(), TypeError, r"landmarks must be a numpy.ndarray of dtype float32.*got list"),
]


@pytest.mark.parametrize("make, exc, match", BAD_LANDMARKS)
def test_extract_chips_refuses_wrong_landmarks(face, make, exc, match):
    frame, _, shapes = face
    with pytest.raises(exc, match=match):
        native.extract_chips(frame, make(shapes))


# --------------------------------------------------------------------------- chips

BAD_CHIPS = [
    (lambda c: c.astype(np.float32), TypeError, r"chips must have dtype uint8, got float32"),
    (lambda c: c[:, :112, :112], ValueError, r"chips must have shape \(n, 150, 150, 3\), got \(1, 112, 112, 3\)"),
    (lambda c: c[0], ValueError, r"chips must have shape \(n, 150, 150, 3\), got \(150, 150, 3\)"),
    (lambda c: c[..., ::-1], ValueError, r"chips must be C-contiguous"),
    (lambda c: c.tolist(), TypeError, r"chips must be a numpy.ndarray of dtype uint8.*got list"),
]


@pytest.mark.parametrize("make, exc, match", BAD_CHIPS)
def test_dlib_descriptor_refuses_wrong_chips(face, dlib_net, make, exc, match):
    frame, _, shapes = face
    chips = native.extract_chips(frame, shapes)
    with pytest.raises(exc, match=match):
        dlib_net.compute(make(chips))


# --------------------------------------------------------------------------- gallery

BAD_VECTORS = [
    (lambda v: v.astype(np.float64), TypeError, r"vectors must have dtype float32, got float64"),
    (lambda v: v.astype(">f4"), TypeError, r"vectors must have dtype float32, got >f4"),
    (lambda v: np.ascontiguousarray(v[:, :64]), ValueError, r"vectors must have shape \(2, 128\).*got \(2, 64\)"),
    (_strided, ValueError, r"vectors must be C-contiguous"),
    (lambda v: np.asfortranarray(v), ValueError, r"vectors must be C-contiguous"),
    (lambda v: v.tolist(), TypeError, r"vectors must be a numpy.ndarray of dtype float32, got list"),
]


@pytest.mark.parametrize("make, exc, match", BAD_VECTORS)
def test_gallery_refuses_wrong_vectors_and_queries(make, exc, match):
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((2, 128), dtype=np.float32)
    g = native.GalleryIndex(128)
    g.add(np.array([1, 2], np.int64), vectors)
    with pytest.raises(exc, match=match):
        g.add(np.array([3, 4], np.int64), make(vectors))
    with pytest.raises(exc, match=match):
        g.replace(np.array([1, 2], np.int64), make(vectors))
    if "shape" not in match:  # a (2, 64) query batch is refused by its own message
        with pytest.raises(exc, match=match.replace("vectors", "queries")):
            g.search(make(vectors), 1)
    assert len(g) == 2 and np.array_equal(g.get(1), vectors[0])

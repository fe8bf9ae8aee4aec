"""The live gallery: cosine similarity per person, runner-up margin, live updates."""

from __future__ import annotations

import numpy as np
import pytest

from app.vision.gallery import FaceGallery, normalise


def _unit(rng, n=1):
    return normalise(rng.standard_normal((n, 128)).astype(np.float32))


def test_best_person_and_runner_up_by_cosine():
    rng = np.random.default_rng(3)
    base = _unit(rng, 3)
    g = FaceGallery()
    g.add(10, 1, base[0])
    g.add(11, 1, base[0] + 0.3 * base[1])  # a second photo of person 1
    g.add(20, 2, base[1])
    g.add(30, 3, base[2])
    probe = base[0] + 0.05 * base[2]
    m = g.match(probe)
    expected = {t: float(normalise(probe[None])[0] @ normalise(v[None])[0])
                for t, v in ((10, base[0]), (11, base[0] + 0.3 * base[1]), (20, base[1]), (30, base[2]))}
    assert (m.staff_id, m.template_id) == (1, 10)
    assert m.similarity == pytest.approx(expected[10], abs=1e-5)
    # The runner-up is the best *other* person, not person 1's second template.
    assert m.runner_up_staff_id == 3
    assert m.runner_up_similarity == pytest.approx(expected[30], abs=1e-5)
    assert m.margin == pytest.approx(expected[10] - expected[30], abs=1e-5)


def test_live_updates_and_removal():
    rng = np.random.default_rng(4)
    a, b = _unit(rng, 2)
    g = FaceGallery()
    assert g.match(a).staff_id is None
    g.add(1, 100, a)
    assert g.match(a).staff_id == 100 and g.match(a).runner_up_staff_id is None
    g.add(2, 200, b)
    assert g.match(b).staff_id == 200
    g.add(2, 300, b)  # the template now belongs to someone else
    assert g.match(b).staff_id == 300 and g.staff_ids() == {100, 300}
    assert g.remove_staff(300) == 1
    assert g.match(b).staff_id == 100 and len(g) == 1
    g.clear()
    assert len(g) == 0 and g.match(a).staff_id is None


def test_bad_descriptors_are_refused():
    g = FaceGallery(dim=128)
    with pytest.raises(ValueError):
        g.add(1, 1, np.zeros(128, np.float32))
    with pytest.raises(ValueError):
        g.add(1, 1, np.ones(64, np.float32))
    assert len(g) == 0


def test_a_gallery_takes_its_size_from_the_first_template_until_cleared():
    g = FaceGallery()
    with pytest.raises(ValueError):
        g.add(1, 1, np.zeros(1152, np.float32))   # refused before it fixes the size
    g.add(1, 1, np.ones(1152, np.float32))
    assert g.dim == 1152 and g.match(np.ones(1152, np.float32)).staff_id == 1
    with pytest.raises(ValueError, match="size 128 for a gallery of size 1152"):
        g.add(2, 2, np.ones(128, np.float32))
    with pytest.raises(ValueError, match="query of size 128"):
        g.match(np.ones(128, np.float32))
    g.clear()   # e.g. before reloading the templates of another embedder
    g.add(3, 3, np.ones(128, np.float32))
    assert g.dim == 128 and len(g) == 1


def test_real_photos_match_their_person(frames, models):
    from app import native
    from app.vision.descriptors import OnnxDescriptor

    detector = native.FaceDetector()
    landmarks = native.LandmarkModel(str(models.path("shape_predictor_5_face_landmarks")))
    onnx = OnnxDescriptor(models.onnx)

    def describe(frame):
        boxes, _, _ = detector.detect(frame)
        return onnx.compute(native.extract_chips(frame, landmarks.predict(frame, boxes)))[0]

    g = FaceGallery()
    g.add(1, 1, describe(frames["obama.jpg"]))
    g.add(2, 2, describe(frames["biden.jpg"]))
    for name in ("obama2.jpg", "obama3.jpg"):
        m = g.match(describe(frames[name]))
        assert m.staff_id == 1 and m.margin > 0.05, (name, m)


def test_replace_all_makes_the_gallery_what_adding_one_by_one_makes():
    rng = np.random.default_rng(8)
    vectors = _unit(rng, 60)
    items = [(1000 + i, i // 3, vectors[i]) for i in range(60)]   # 20 people, 3 photos each
    one_by_one = FaceGallery()
    for t, s, v in items:
        one_by_one.add(t, s, v)
    swapped = FaceGallery()
    swapped.add(1, 99, vectors[0])   # what was there before is gone after the swap
    before = swapped.revision
    swapped.replace_all(items)
    assert swapped.revision > before and swapped.people == 20 and len(swapped) == 60
    assert swapped.entries() == one_by_one.entries()
    probe = vectors[7] + 0.1 * vectors[30]
    assert swapped.match(probe) == one_by_one.match(probe)
    for a, b in zip(swapped.cohort_memo("p", lambda p: p), one_by_one.cohort_memo("p", lambda p: p)):
        assert np.allclose(a, b, atol=1e-6)
    swapped.add(2000, 50, vectors[1])   # and it stays a live gallery
    assert swapped.match(vectors[1]).staff_id in (0, 50)
    swapped.replace_all([])
    assert len(swapped) == 0 and swapped.match(probe).staff_id is None


def test_replace_all_refuses_another_size_and_keeps_the_gallery():
    rng = np.random.default_rng(9)
    g = FaceGallery(dim=128)
    g.add(1, 1, _unit(rng)[0])
    with pytest.raises(ValueError, match="size 64"):
        g.replace_all([(2, 2, rng.standard_normal(64))])
    assert g.entries() == {1: 1} and len(g) == 1

"""The gallery's own cohort: each enrolled photo against the other people, kept as photos come and go."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.vision.cohort import KEEP, GalleryCohort, tail_threshold
from app.vision.gallery import FaceGallery, normalise


def _brute_force(vectors: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Each photo's best KEEP other people (best photo of each), by looking at every pair."""
    s = vectors @ vectors.T
    out = np.full((len(vectors), KEEP), -np.inf, np.float32)
    for i in range(len(vectors)):
        best: dict[int, float] = {}
        for j in range(len(vectors)):
            if owners[j] != owners[i]:
                best[owners[j]] = max(best.get(owners[j], -2.0), s[i, j])
        top = sorted(best.values(), reverse=True)[:KEEP]
        out[i, :len(top)] = top
    return out


def _rows(cohort: GalleryCohort, template_ids) -> np.ndarray:
    """The cohort's kept similarities, in the order of `template_ids`."""
    return np.stack([cohort._sims[cohort._row_of[t]] for t in template_ids])


def _faces(rng, n: int, dim: int = 16) -> np.ndarray:
    return normalise(rng.standard_normal((n, dim)).astype(np.float32))


def test_kept_photo_by_photo_it_equals_every_pair_compared_through_adds_replacements_and_removals():
    rng = np.random.default_rng(0)
    vectors, owners = _faces(rng, 150), rng.integers(0, 50, 150)   # about 3 photos a person
    cohort = GalleryCohort()
    cohort.parts()                       # in use from the start: every change is incremental
    for t in range(150):
        cohort.add(t, int(owners[t]), vectors[t])
    assert cohort._built
    np.testing.assert_allclose(_rows(cohort, range(150)), _brute_force(vectors, owners), atol=1e-6)
    # a template that changes person, and a third of the photos (whole people among them) removed
    owners[3] = 77
    cohort.add(3, 77, vectors[3])
    gone = [t for t in range(150) if t % 3 == 0 or owners[t] in (1, 2)]
    cohort.remove(gone)
    left = [t for t in range(150) if t not in gone]
    np.testing.assert_allclose(_rows(cohort, left), _brute_force(vectors[left], owners[left]), atol=1e-6)
    assert len(cohort) == len(left)


def test_a_bulk_loaded_cohort_is_built_at_once_on_first_use_with_the_same_result():
    rng = np.random.default_rng(1)
    vectors, owners = _faces(rng, 700), rng.integers(0, 300, 700)   # more rows than one block
    cohort = GalleryCohort()
    for t in range(700):
        cohort.add(t, int(owners[t]), vectors[t])
    assert not cohort._built                      # nothing kept while loading
    best, lead, mean = cohort.parts()
    expected = _brute_force(vectors, owners)
    np.testing.assert_allclose(_rows(cohort, range(700)), expected, atol=1e-6)
    assert best == pytest.approx(expected[:, 0], abs=1e-6)
    assert lead == pytest.approx(expected[:, 0] - expected[:, 1], abs=1e-6)
    assert mean == pytest.approx(expected[:, 1:].mean(axis=1), abs=1e-6)


def test_one_person_meets_no_one_and_two_people_get_no_lead_credit():
    rng = np.random.default_rng(2)
    a, b, c = _faces(rng, 3)
    cohort = GalleryCohort()
    cohort.add(1, 5, a)
    cohort.add(2, 5, b)
    assert len(cohort.parts()[0]) == 0
    cohort.add(3, 6, c)
    best, lead, mean = cohort.parts()
    assert len(best) == 3 and np.all(lead == 0.0) and mean == pytest.approx(best)


def test_the_live_gallery_keeps_its_cohort_and_memoises_per_change():
    rng = np.random.default_rng(3)
    gallery = FaceGallery()
    for t, v in enumerate(_faces(rng, 40)):
        gallery.add(t, t // 2, v)
    calls = []
    first = gallery.cohort_memo("k", lambda own: calls.append(1) or len(own[0]))
    assert first == 40 and gallery.cohort_memo("k", lambda own: calls.append(1) or 0) == 40 and len(calls) == 1
    gallery.remove_staff(0)
    assert gallery.cohort_memo("k", lambda own: len(own[0])) == 38
    gallery.clear()
    assert gallery.cohort_memo("k", lambda own: len(own[0])) == 0


def test_the_tail_fit_reads_rare_rates_off_an_exponential_tail():
    rng = np.random.default_rng(4)
    scores = 0.8 + 0.01 * rng.exponential(size=2000)
    # P(score > t) = exp(-(t - 0.8) / 0.01): the 1 in 1,000 point is 0.8 + 0.01 ln 1000
    assert tail_threshold(scores, 0.001) == pytest.approx(0.8 + 0.01 * math.log(1000), abs=0.01)
    assert tail_threshold(scores, 0.01) == pytest.approx(0.8 + 0.01 * math.log(100), abs=0.006)
    assert tail_threshold(scores, 0.5) == pytest.approx(np.quantile(scores, 0.5))
    assert tail_threshold(scores[:10], 0.01) is None   # too few for a tail

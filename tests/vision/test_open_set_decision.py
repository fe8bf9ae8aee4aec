"""The decision by false-accept rate: a stranger stays a stranger as the gallery grows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.config.schema import Config, RecognitionConfig
from app.eval import openset
from app.vision.decision import CALIBRATIONS, Calibration, DecisionRule, TrackEvidence, decide
from app.vision.gallery import FaceGallery, normalise

DIM = 24


def _population(rng, people: int, photos: np.ndarray, spread: float = 0.55, noise: float = 0.35,
                uneven: float = 0.0):
    """Synthetic faces: a shared face direction plus a person's own, plus each photo's noise
    (cosines of different people ~0.75, of one person ~0.9, as the real models'). `uneven`: people
    lie at log-normally varied distances from the shared face (some look like many others: a
    heavier upper tail of stranger similarities, as real faces have)."""
    common = np.zeros(DIM)
    common[0] = 1.0
    if uneven:
        spread = spread * np.exp(uneven * rng.standard_normal((people, 1)))
    centres = common + spread * rng.standard_normal((people, DIM)) / np.sqrt(DIM)
    person_of = np.repeat(np.arange(people), photos)
    vectors = centres[person_of] + noise * rng.standard_normal((len(person_of), DIM)) / np.sqrt(DIM)
    numbers = np.concatenate([np.arange(1, n + 1) for n in photos])
    return normalise(vectors.astype(np.float32)), person_of, numbers.tolist()


def _fpir(rule: DecisionRule, vectors, enrolled: np.ndarray, strangers: np.ndarray) -> float:
    _, similarity, lead, cohort = openset._search(vectors[strangers], vectors[enrolled], enrolled)
    return float(np.mean(rule.accepts_many(similarity, lead, len(enrolled), cohort)))


def test_false_accept_rate_holds_as_the_gallery_grows_where_a_fixed_threshold_does_not():
    rng = np.random.default_rng(21)
    # Tuning people (1,600: a third with 3 photos) fit the calibration; 7,000 other people give
    # galleries of 100 and 2,000 and 5,000 strangers.
    photos = np.where(rng.random(1600) < 0.33, 3, 1)
    vectors, person_of, numbers = _population(rng, 1600, photos)
    fitted = openset.calibrate(vectors, person_of, numbers, np.ones(len(person_of), bool), draws=4)
    rule = DecisionRule(2.0, 0.0).at_false_accept(0.01, fitted["calibration"])
    fresh, _, _ = _population(rng, 7000, np.ones(7000, int))
    strangers = np.arange(2000, 7000)
    small, large = np.arange(100), np.arange(2000)
    # A fixed threshold set for 1% on the 100-person gallery ...
    s = fresh[strangers] @ fresh[small].T
    fixed = DecisionRule(float(np.quantile(s.max(axis=1), 0.99)), 0.0)
    assert _fpir(fixed, fresh, small, strangers) == pytest.approx(0.01, abs=0.002)
    # ... lets through several times more strangers on the 2,000-person one,
    assert _fpir(fixed, fresh, large, strangers) > 0.03
    # while the calibrated rule stays near its rate at both sizes (5,000 strangers: +-0.3%).
    assert 0.006 <= _fpir(rule, fresh, small, strangers) <= 0.015
    assert 0.006 <= _fpir(rule, fresh, large, strangers) <= 0.015


def test_the_threshold_follows_the_people_enrolled_in_the_live_gallery():
    rng = np.random.default_rng(5)
    calibration = Calibration({0.01: (0.0, 0.0, 0.80, 0.02)})   # threshold = 0.80 + 0.02 ln(people)
    rule = DecisionRule(0.95, 0.0, 1).at_false_accept(0.01, calibration)
    face = normalise(rng.standard_normal((1, 256)).astype(np.float32))[0]
    gallery = FaceGallery()
    gallery.add(1, 100, face)
    gallery.add(2, 200, normalise(rng.standard_normal((1, 256)).astype(np.float32))[0])
    probe = face + 0.45 * rng.standard_normal(256).astype(np.float32) / 16   # cosine ~0.9 to `face`
    evidence = TrackEvidence()
    evidence.add(probe, 1.0, 100)
    first = decide(gallery, evidence, rule)
    assert first.known and first.threshold == pytest.approx(0.80 + 0.02 * np.log(2))
    # 400 more people (unlike the face): the same face now needs a higher score
    others = normalise(rng.standard_normal((400, 256)).astype(np.float32))
    for i, v in enumerate(others):
        gallery.add(10 + i, 1000 + i, v)
    assert gallery.people == len(gallery) == 402
    later = decide(gallery, evidence, rule)
    assert later.threshold == pytest.approx(0.80 + 0.02 * np.log(402))
    assert later.similarity == pytest.approx(first.similarity, abs=1e-5)
    assert (later.known, later.reason) == (False, "below_threshold")
    # and back once they leave
    gallery.remove_templates(range(10, 410))
    assert gallery.people == 2 and decide(gallery, evidence, rule).known


def test_no_other_person_enrolled_gives_no_credit_for_a_lead():
    rng = np.random.default_rng(8)
    calibration = Calibration({0.01: (1.0, 0.0, 0.9, 0.0)})
    rule = DecisionRule(0.95, 0.0, 1).at_false_accept(0.01, calibration)
    gallery = FaceGallery()
    a, b = normalise(rng.standard_normal((2, 128)).astype(np.float32))
    gallery.add(1, 7, a)
    evidence = TrackEvidence()
    evidence.add(0.6 * a + 0.8 * b, 1.0, 7)   # cosine 0.6 to the only person
    r = decide(gallery, evidence, rule)
    # a lead over "nobody" (similarity + 1) would have passed 0.9; it counts as no lead
    assert r.score == pytest.approx(r.similarity, abs=1e-6) and not r.known


def test_people_are_counted_through_replacements_and_removals():
    rng = np.random.default_rng(2)
    v = normalise(rng.standard_normal((4, 128)).astype(np.float32))
    g = FaceGallery()
    g.add(1, 10, v[0])
    g.add(2, 10, v[1])          # a second photo of the same person
    g.add(3, 20, v[2])
    assert g.people == 2
    g.add(3, 30, v[2])          # the template now belongs to someone else
    assert g.people == 2 and g.staff_ids() == {10, 30}
    g.remove_templates([1])
    assert g.people == 2
    g.remove_staff(10)
    assert g.people == 1
    g.clear()
    assert g.people == 0


def test_the_configured_rule_decides_by_false_accept_unless_told_otherwise():
    recognition = Config().recognition
    for embedder in ("dlib", "faceres", "fused"):
        rule = DecisionRule.from_config(recognition, embedder)
        assert rule.by_false_accept and rule.false_accept == 0.01
        assert rule.calibration is CALIBRATIONS[embedder]
    strict = DecisionRule.from_config(dataclasses.replace(recognition, false_accept=0.001), "fused")
    assert strict.threshold_for(774) > DecisionRule.from_config(recognition, "fused").threshold_for(774)
    raw = DecisionRule.from_config(RecognitionConfig(decide_by_threshold=True), "fused")
    assert not raw.by_false_accept and raw.threshold_for(5000) == raw.threshold == recognition.fused_threshold
    with pytest.raises(ValueError):
        raw.at_false_accept(0.05, CALIBRATIONS["fused"])


def test_a_falling_threshold_is_not_followed_past_the_galleries_it_was_fitted_on():
    c = Calibration({0.001: (1.5, 0.0, 1.04, -0.013)}, fitted_up_to=700)
    assert c.threshold(0.001, 5000) == c.threshold(0.001, 700) < c.threshold(0.001, 699)
    rising = Calibration({0.01: (0.25, 0.0, 0.876, 0.004)}, fitted_up_to=700)
    assert rising.threshold(0.01, 5000) > rising.threshold(0.01, 700)


def test_several_views_are_scored_by_the_mean_of_their_own_scores():
    """Three different views of a stranger, averaged, come closer to everyone enrolled; the
    decision scores them by their own (single-view) scores, the scale it was calibrated on."""
    rng = np.random.default_rng(11)
    common = normalise(rng.standard_normal((1, 64)).astype(np.float32))[0]
    noise = normalise(rng.standard_normal((4, 64)).astype(np.float32))
    enrolled, views = normalise(common + 1.2 * noise[:1]), normalise(common + 1.2 * noise[1:])
    gallery = FaceGallery()
    gallery.add(1, 5, enrolled[0])
    single = [gallery.match(v).similarity for v in views]
    together = float(normalise(views.sum(axis=0, keepdims=True))[0] @ enrolled[0])
    assert together > max(single)                          # the aggregate scores higher than any view
    between = (together + float(np.mean(single))) / 2
    rule = DecisionRule(0.95, 0.0, 2).at_false_accept(0.01, Calibration({0.01: (0.0, 0.0, between, 0.0)}))
    evidence = TrackEvidence()
    for v in views:
        evidence.add(v, 1.0, 5, gallery.match(v))
    r = decide(gallery, evidence, rule)
    assert r.similarity == pytest.approx(together, abs=1e-5)
    assert r.score == pytest.approx(np.mean(single), abs=1e-5)
    assert not r.known and r.reason == "below_threshold"   # the views' own scores stay below
    # without each view's own match (older callers) the aggregate decides, as before
    bare = TrackEvidence()
    for v in views:
        bare.add(v, 1.0, 5)
    assert decide(gallery, bare, rule).score == pytest.approx(together, abs=1e-5)
    assert decide(gallery, bare, rule).known


def _fpir_in(rule: DecisionRule, vectors, enrolled: np.ndarray, strangers: np.ndarray) -> float:
    """FPIR with the gallery's own cohort in force, as the terminal keeps it."""
    gallery = FaceGallery()
    for i in enrolled:
        gallery.add(int(i), int(i), vectors[i])
    threshold = rule.threshold_in(gallery)
    _, similarity, lead, cohort = openset._search(vectors[strangers], vectors[enrolled], enrolled)
    return float(np.mean(rule.score(similarity, lead, cohort) >= threshold))


def test_the_rate_holds_for_a_staff_more_alike_than_the_people_it_was_calibrated_on():
    """Calibrated on one population; a staff whose faces sit closer together (one region, one
    family firm) gives every stranger more near matches. The floor fitted on the first population
    lets several times the rate through; the threshold read from the gallery's own cohort does not
    (on these synthetic faces it errs to the strict side in small galleries)."""
    rng = np.random.default_rng(21)
    photos = np.where(rng.random(1600) < 0.33, 3, 1)
    vectors, person_of, numbers = _population(rng, 1600, photos, uneven=0.25)
    # the score the terminal ships with for the fused model: similarity + 0.25 lead, no cohort term
    fitted = openset.calibrate(vectors, person_of, numbers, np.ones(len(person_of), bool), draws=4,
                               weights=(0.25,), cohort_weights=(0.0,))
    calibration = fitted["calibration"]
    assert calibration.own_tail and fitted["tail"]["chosen"]["fraction"] == calibration.tail_fraction
    rule = DecisionRule(2.0, 0.0).at_false_accept(0.01, calibration)
    floor = DecisionRule(2.0, 0.0).at_false_accept(0.01, dataclasses.replace(calibration, own_tail=False))
    alike, _, _ = _population(rng, 7000, np.ones(7000, int), spread=0.42, uneven=0.25)
    same, _, _ = _population(rng, 7000, np.ones(7000, int), uneven=0.25)
    strangers = np.arange(2000, 7000)   # 5,000 strangers: +-0.3% at 1%
    for size in (100, 300, 2000):
        enrolled = np.arange(size)
        assert _fpir_in(floor, alike, enrolled, strangers) > 0.03
        assert _fpir_in(rule, alike, enrolled, strangers) <= 0.015
        # where the staff is like the calibration's people the tail keeps near the rate
        assert 0.003 <= _fpir_in(rule, same, enrolled, strangers) <= 0.015

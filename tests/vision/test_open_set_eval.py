"""`daka eval lfw`'s open-set protocols (app/eval/openset.py): on synthetic vectors where a
property is exact, and on a subset of the LFW development set when it is present."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.config import load_config
from app.eval import openset
from app.eval.run import evaluate_lfw, tuning_half
from app.instance import Instance
from app.vision.decision import CALIBRATIONS, DecisionRule
from app.vision.gallery import normalise

LFW = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces"
if not LFW.exists():
    LFW = Path("/work/shared/data/faces")


def test_search_reports_what_the_gallery_reports():
    """The eval's vectorised search gives the best person, the lead and the cohort exactly as
    FaceGallery.match does (k = 1), so the eval scores what the terminal scores."""
    from app.vision.gallery import FaceGallery

    rng = np.random.default_rng(4)
    templates = normalise(rng.standard_normal((30, 32)).astype(np.float32))
    owners = np.arange(100, 130)
    probes = normalise(templates[:5] + 0.5 * rng.standard_normal((5, 32)).astype(np.float32))
    gallery = FaceGallery()
    for t, (owner, v) in enumerate(zip(owners, templates)):
        gallery.add(t, int(owner), v)
    who, sim, lead, cohort = openset._search(probes, templates, owners)
    for i, m in enumerate(gallery.match_many(probes)):
        assert (who[i], sim[i], lead[i], cohort[i]) == pytest.approx((m.staff_id, m.similarity, m.margin, m.cohort),
                                                                     abs=1e-5)


def test_terminal_protocol_counts_and_agreement_on_synthetic_people():
    """k photos enrolled, m-photo probes decided by `decide`: with well-separated people every
    genuine probe is named right and no stranger passes; the probe counts follow the protocol."""
    rng = np.random.default_rng(9)
    people, photos = 40, 7
    centres = normalise(rng.standard_normal((people, 64)).astype(np.float32))
    person_of = np.repeat(np.arange(people), photos)
    vectors = normalise(centres[person_of] + 0.05 * rng.standard_normal((people * photos, 64)).astype(np.float32))
    numbers = [k + 1 for _ in range(people) for k in range(photos)]
    rule = DecisionRule(0.5, 0.0, 2)
    out = openset.terminal_protocols(vectors, person_of, numbers, np.ones(len(person_of), bool),
                                     {"raw": rule}, folds=5)
    by_km = {(e["k"], e["m"]): e for e in out}
    assert set(by_km) == {(1, 1), (1, 3), (3, 1), (3, 3)}
    # m = 1: photos 4..7 of each enrolled person (32 per fold), every photo of the 8 strangers
    assert by_km[1, 1]["genuine_probes"] == 5 * 32 * 4 and by_km[1, 1]["impostor_probes"] == 5 * 8 * 7
    # m = 3: the 4 sets of three of photos 4..7; 4 of the 35 sets of each stranger's 7 photos
    assert by_km[3, 3]["genuine_probes"] == 5 * 32 * 4 and by_km[3, 3]["impostor_probes"] == 5 * 8 * 4
    for e in out:
        assert e["rules"]["raw"]["fnir"] == 0.0 and e["rules"]["raw"]["fpir"] == 0.0


@pytest.mark.skipif(not LFW.exists(), reason="LFW development set not present")
def test_open_set_protocols_on_an_lfw_subset(models, tmp_path):
    """A subset of LFW (people with several photos, with one, in both halves): every protocol
    reports, and the strict setting lets fewer strangers through than the standard one."""
    folders = sorted(p for p in LFW.iterdir() if p.is_dir())
    counts = {p: len(list(p.glob("*.jpg"))) for p in folders}
    chosen = []
    for half in (True, False):
        mine = [p for p in folders if tuning_half(p.name) == half]
        chosen += [p for p in mine if counts[p] >= 4][:8] + [p for p in mine if counts[p] == 1][:12] \
            + [p for p in mine if 2 <= counts[p] <= 3][:4]
    root = tmp_path / "subset"
    for person in chosen:
        (root / person.name).mkdir(parents=True)
        for photo in sorted(person.glob("*.jpg"))[:6]:
            shutil.copy(photo, root / person.name / photo.name)
    config = load_config(Instance.resolve(str(tmp_path / "inst")))
    out = evaluate_lfw(root, None, models, config, cache_dir=None, timing_sample=0)["openset"]
    assert set(out["calibration"]) == {"dlib", "faceres", "fused"}
    shipped = CALIBRATIONS["fused"].points
    assert out["calibration"]["fused"]["shipped"]["0.01"]["base"] == shipped[0.01][2]
    assert [r["people"] for r in out["gallery_sizes"]] == sorted(r["people"] for r in out["gallery_sizes"])
    tail = out["calibration"]["fused"]["tail"]
    assert tail["chosen"] in [{"fraction": g["fraction"], "least": g["least"]} for g in tail["grid"]]
    assert out["calibration"]["fused"]["shipped"]["tail"] == {"fraction": CALIBRATIONS["fused"].tail_fraction,
                                                               "least": CALIBRATIONS["fused"].tail_least}
    for row in out["gallery_sizes"]:
        rules = row["rules"]
        assert rules["false_accept_1e-3"]["fpir"] <= rules["false_accept_1e-2"]["fpir"]
        assert rules["false_accept_1e-3"]["fnir"] >= rules["false_accept_1e-2"]["fnir"]
        for r in rules.values():
            assert r["strangers_accepted"] <= r["false_accepts"] and r["accepted_as_distractor"] <= r["false_accepts"]
            if not row["distractors"]:
                assert r["accepted_as_distractor"] == 0
    assert set(out["gallery_sizes_other_draws"]) == {"8", "9"}
    assert [r["people"] for r in out["gallery_sizes_other_draws"]["8"]] == [r["people"] for r in out["gallery_sizes"]]
    terminal = {(e["k"], e["m"]): e for e in out["terminal"]}
    assert set(terminal) == {(1, 1), (1, 3), (3, 1), (3, 3)}
    assert terminal[3, 1]["genuine_probes"] > 0 and terminal[3, 1]["impostor_probes"] > 0
    # three enrolled photos miss no more people than one, at the same setting, on the same probes
    assert terminal[3, 1]["rules"]["false_accept_1e-2"]["fnir"] <= terminal[1, 1]["rules"]["false_accept_1e-2"]["fnir"]
    assert out["single_stills"]["whole_set"]["rank1"] > 0.8

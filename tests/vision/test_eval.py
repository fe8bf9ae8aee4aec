"""`daka eval lfw`: dataset parsing, metrics, and the whole command on a small LFW-layout folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from app.eval import metrics
from app.eval.lfw import DatasetError, DescriptorCache, load_folder, load_pairs

LFW = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces"
if not LFW.exists():
    LFW = Path("/work/shared/data/faces")


@pytest.fixture
def lfw_dir(tmp_path, photos):
    """Obama_0001..3 (obama, obama2, obama3) and Biden_0001, with a 2-fold pairs file."""
    root = tmp_path / "faces"
    for person, files in {"Obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"], "Biden": ["biden.jpg"]}.items():
        (root / person).mkdir(parents=True)
        for k, name in enumerate(files, start=1):
            shutil.copy(photos[name], root / person / f"{person}_{k:04d}.jpg")
    (root / "pairs.txt").write_text(
        "2\t1\nObama\t1\t2\nObama\t1\tBiden\t1\nObama\t2\t3\nObama\t3\tBiden\t1\n", encoding="utf-8")
    return root


def test_roc_auc_matches_counting_pairs():
    rng = np.random.default_rng(1)
    genuine, impostor = rng.normal(1, 1, 200).round(1), rng.normal(0, 1, 300).round(1)
    wins = (genuine[:, None] > impostor[None, :]).sum() + 0.5 * (genuine[:, None] == impostor[None, :]).sum()
    assert metrics.roc_auc(genuine, impostor) == pytest.approx(wins / (200 * 300))


def test_threshold_at_rate_accepts_at_most_that_many_impostors():
    impostor = np.array([0.1, 0.5, 0.5, 0.7, 0.9, 0.95, 0.2, 0.3, 0.4, 0.6])
    t = metrics.threshold_at_rate(impostor, 0.2)
    assert np.mean(impostor >= t) == pytest.approx(0.2)
    t = metrics.threshold_at_rate(impostor, 0.0)
    assert np.mean(impostor >= t) == 0.0


def test_identification_counts_wrong_accepted_matches_as_misses():
    best = np.array([1, 2, 3, 9])
    true = np.array([1, 2, 4, -1])
    score = np.array([0.9, 0.5, 0.99, 0.3])
    genuine = np.array([True, True, True, False])
    out = metrics.identification(best, score, true, genuine, accepted=score >= 0.8)
    assert out["rank1"] == pytest.approx(2 / 3)
    # threshold just above the impostor: probe 1 accepted, probe 2 too low, probe 3 wrong person
    assert out["fnir_at_fpir_1e-2"] == pytest.approx(1 / 3)
    assert out["configured"] == {"fnir": pytest.approx(2 / 3), "fpir": 0.0}


def test_open_set_split_follows_the_protocol():
    identities = ["A", "A", "A", "B", "C", "C"]
    numbers = [3, 1, 2, 1, 2, 1]
    gallery, genuine, impostor = metrics.open_set_split(identities, numbers)
    assert sorted(gallery.tolist()) == [1, 5]         # the first image of A and of C
    assert sorted(genuine.tolist()) == [0, 2, 4]
    assert impostor.tolist() == [3]


def test_pairs_file_errors_are_clear(lfw_dir):
    folder = load_folder(lfw_dir)
    bad = lfw_dir / "bad.txt"
    bad.write_text("2\t1\nObama\t1\t9\nObama\t1\tBiden\t1\nObama\t2\t3\nObama\t3\tBiden\t1\n")
    with pytest.raises(DatasetError, match="Obama_0009"):
        load_pairs(bad, folder)
    bad.write_text("2\t1\nObama\t1\t2\n")
    with pytest.raises(DatasetError, match="expected 4 pair lines"):
        load_pairs(bad, folder)
    with pytest.raises(DatasetError, match="no <Name>"):
        load_folder(lfw_dir / "Obama")


def test_eval_lfw_command_end_to_end(lfw_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAKA_CACHE", str(tmp_path / "cache"))
    args = ["--instance", str(tmp_path / "inst"), "eval", "lfw", str(lfw_dir), "--json", "--timing-sample", "2"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"verification", "identification", "detection", "timing"}
    v, ident = out["verification"], out["identification"]
    assert v["pairs"] == 4 and v["roc_auc"] == 1.0
    assert ident["gallery"] == 1 and ident["genuine_probes"] == 2 and ident["impostor_probes"] == 1
    assert ident["rank1"] == 1.0 and ident["configured"]["fpir"] == 0.0
    assert out["detection"]["failures"] == 0 and out["timing"]["seconds_per_image"] > 0
    caches = list((tmp_path / "cache" / "eval").glob("descriptors-*.npz"))
    assert len(caches) == 1
    cache = DescriptorCache(caches[0].parent, out["model"], out["settings"])
    assert len(cache.entries) == 4 and cache.path == caches[0]
    # second run: served from the cache, same figures
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["verification"] == v and again["identification"] == ident


def test_eval_lfw_bad_folder_is_an_error(tmp_path, capsys):
    assert main(["--instance", str(tmp_path / "inst"), "eval", "lfw", str(tmp_path / "nowhere")]) == 1
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.skipif(not (LFW / "pairs.txt").exists(), reason="LFW development set not present")
def test_lfw_subset_identifies_most_people(models, tmp_path):
    """Twelve LFW people with several photos: the terminal's code names most probes right."""
    from app.config import load_config
    from app.eval.run import evaluate_lfw
    from app.instance import Instance

    people = sorted(p for p in LFW.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 4)[:12]
    root = tmp_path / "subset"
    for person in people:
        shutil.copytree(person, root / person.name)
    config = load_config(Instance.resolve(str(tmp_path / "inst")))
    out = evaluate_lfw(root, None, models, config, cache_dir=None, timing_sample=0)
    assert "verification" not in out     # no pairs file in the subset
    assert out["identification"]["rank1"] >= 0.9

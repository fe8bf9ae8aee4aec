"""`daka eval lfw`: verification pairs and open-set identification over an LFW-layout folder.

Ours: the terminal's own detector, landmarks, alignment, embedder, gallery and decision rule
(at evaluation detection settings: LFW faces are ~100 px in 250 px images, so the detector
runs on the full image with no minimum face size, and retries with upsampling when it finds
nothing). Baseline: the face_recognition library the way
its README uses it (HOG with one upsample, 128-D encodings, Euclidean distance, tolerance 0.6).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from app.vision.decision import CALIBRATIONS, DecisionRule
from app.vision.embedders import open_embedder, unit_rows
from app.vision.gallery import FaceGallery

from . import metrics, openset
from .extractors import EngineExtractor, FaceRecognitionExtractor
from .lfw import DescriptorCache, describe_all, load_folder, load_pairs


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_extractor(baseline: str | None, models, config, upsample: int, min_face: int):
    if baseline == "face_recognition":
        return FaceRecognitionExtractor()
    if baseline:
        raise ValueError(f"unknown baseline {baseline!r} (face_recognition)")
    return EngineExtractor(models, open_embedder(models, config.vision), upsample=upsample, min_face=min_face)


def _time_sample(extractor, images: list[Path], count: int) -> float | None:
    """Seconds per image, measured afresh (not from the cache) on evenly spaced images."""
    if count <= 0:
        return None
    picks = [images[i] for i in np.linspace(0, len(images) - 1, min(count, len(images))).astype(int)]
    extractor.describe_file(picks[0])  # warm-up
    t0 = time.perf_counter()
    for p in picks:
        extractor.describe_file(p)
    return (time.perf_counter() - t0) / len(picks)


def _identify_ours(vectors, gallery_idx, probe_idx, person_of, rule: DecisionRule):
    gallery = FaceGallery(dim=vectors.shape[1])
    for i in gallery_idx:
        gallery.add(int(i), int(person_of[i]), vectors[i])
    matches = gallery.match_many(vectors[probe_idx])
    best = np.array([-1 if m.staff_id is None else m.staff_id for m in matches])
    sim = np.array([m.similarity for m in matches])
    margin = np.array([m.margin for m in matches])
    return best, sim, margin, rule.passes_many(sim, margin)


def _identify_euclidean(vectors, gallery_idx, probe_idx, person_of, tolerance: float):
    g = vectors[gallery_idx]
    dist = np.sqrt(np.maximum(
        (vectors[probe_idx] ** 2).sum(1)[:, None] + (g ** 2).sum(1)[None, :] - 2 * vectors[probe_idx] @ g.T, 0))
    order = np.argsort(dist, axis=1)
    rows = np.arange(len(probe_idx))
    best_d, second_d = dist[rows, order[:, 0]], dist[rows, order[:, 1]]
    best = person_of[gallery_idx][order[:, 0]]
    return best, -best_d, second_d - best_d, best_d <= tolerance


def evaluate_lfw(root, pairs_path, models, config, baseline: str | None = None, upsample: int = 0,
                 min_face: int = 0, cache_dir: Path | None = None, timing_sample: int = 50) -> dict:
    folder = load_folder(root)
    pairs_file = Path(pairs_path) if pairs_path else Path(root) / "pairs.txt"
    pairs = load_pairs(pairs_file, folder) if pairs_file.exists() else None
    if pairs_path and pairs is None:
        raise FileNotFoundError(pairs_file)
    extractor = make_extractor(baseline, models, config, upsample, min_face)
    cache = DescriptorCache(cache_dir, extractor.model_id, extractor.settings) if cache_dir else None
    _log(f"eval: {len(folder.images)} images, {extractor.model_id} ({extractor.settings})"
         + (f", cache {cache.path}" if cache else ""))
    vectors, found_by, fresh_seconds = describe_all(folder.images, extractor, cache, extractor.model_id)

    euclidean = extractor.metric == "euclidean"
    names = sorted(set(folder.identities))
    number_of = {n: i for i, n in enumerate(names)}
    person_of = np.array([number_of[n] for n in folder.identities])
    if euclidean:
        rule = DecisionRule(threshold=-extractor.threshold, margin=0.0)
        out = {"dataset": str(Path(root)), "model": extractor.model_id, "settings": extractor.settings}
        out.update(_score(vectors, rule, folder, pairs, person_of, extractor, euclidean=True))
    else:
        embedder = extractor.embedder
        parts = extractor.split_parts(vectors)
        kind = config.vision.embedder
        rule = DecisionRule.from_config(config.recognition, kind)
        out = {"dataset": str(Path(root)), "model": extractor.model_id, "settings": extractor.settings,
               "embedder": kind}
        out.update(_score(embedder.combine(parts), rule, folder, pairs, person_of, extractor))
        if len(parts) > 1:
            out["embedders"] = _each_embedder(parts, embedder, config.recognition, folder, pairs, person_of,
                                              extractor)
            out["fusion_tuning"] = tune_fusion(parts, folder, person_of)
            out["openset"] = open_set_protocols(parts, embedder, config.recognition, folder, person_of)
    failures = found_by != "detected"
    out["detection"] = {"images": len(folder.images), "failures": int(failures.sum()),
                        "failure_rate": float(np.mean(failures)),
                        "found_on_retry": int((found_by == "retry").sum()),
                        "centre_box_fallback": int((found_by == "centre").sum()),
                        "note": ("failure = no face at the first detection pass; " + (
                            "then the centred box LFW's faces sit in" if euclidean else
                            "retries add upsampling and lower the HOG threshold; then the centred box "
                            "LFW's faces sit in"))}
    per_image = _time_sample(extractor, folder.images, timing_sample)
    out["timing"] = {"seconds_per_image": per_image, "sample_images": min(timing_sample, len(folder.images)),
                     "seconds_per_image_uncached_run": fresh_seconds}
    return out


def _score(vectors, rule, folder, pairs, person_of, extractor, euclidean: bool = False) -> dict:
    """Verification (when pairs exist) and open-set identification of one set of vectors."""
    out: dict = {"metric": "negative euclidean distance" if euclidean else "cosine similarity",
                 "decision": {"threshold": rule.threshold, "margin": rule.margin,
                              "min_observations": rule.min_observations,
                              "note": "one photo is one observation: min_observations applies to camera tracks"}}
    if pairs is not None:
        a, b = vectors[pairs.first], vectors[pairs.second]
        scores = -np.linalg.norm(a - b, axis=1) if euclidean else np.sum(a * b, axis=1)
        out["verification"] = metrics.verification(scores, pairs.same, pairs.fold, rule.threshold)
    gallery_idx, genuine_idx, impostor_idx = metrics.open_set_split(folder.identities, folder.numbers)
    probe_idx = np.concatenate([genuine_idx, impostor_idx])
    is_genuine = np.r_[np.ones(len(genuine_idx), bool), np.zeros(len(impostor_idx), bool)]
    if euclidean:
        best, score, margin, accepted = _identify_euclidean(vectors, gallery_idx, probe_idx, person_of,
                                                            extractor.threshold)
        sweep = score
        sweep_name = "best similarity (threshold swept)"
    else:
        best, score, margin, accepted = _identify_ours(vectors, gallery_idx, probe_idx, person_of, rule)
        # The threshold is swept with the configured margin rule in force, as the terminal decides.
        sweep = np.where(margin >= rule.margin, score, -2.0)  # below any cosine: never accepted
        sweep_name = f"best similarity with margin >= {rule.margin} (threshold swept)"
    ident = metrics.identification(best, sweep, person_of[probe_idx], is_genuine, accepted)
    ident["gallery"] = int(len(gallery_idx))
    ident["swept_score"] = sweep_name
    out["identification"] = ident
    return out


def _each_embedder(parts, embedder, recognition, folder, pairs, person_of, extractor) -> dict:
    """The same figures for each model alone and for the fusion, from the same faces."""
    out = {}
    for kind, name in zip(embedder.kinds, ("dlib", "faceres")):
        rule = DecisionRule.from_config(recognition, name)
        out[name] = _score(unit_rows(parts[kind]), rule, folder, pairs, person_of, extractor)
    out["fused"] = _score(embedder.combine(parts), DecisionRule.from_config(recognition, "fused"),
                          folder, pairs, person_of, extractor)
    return out


def open_set_protocols(parts, embedder, recognition, folder, person_of) -> dict:
    """The decision by false-accept rate: its calibration on the tuning half (per model), then on
    the held-out half the gallery-size table and the terminal's (k, m) protocols, each next to the
    fixed threshold (see app/eval/openset.py)."""
    tuning = np.array([tuning_half(n) for n in folder.identities])
    if not openset.enough_people(person_of, tuning):
        return {"note": "too few people for the open-set protocols: each half needs people with one photo, "
                        "with two or more, and with four or more"}
    vectors = {name: unit_rows(parts[kind]) for kind, name in zip(embedder.kinds, ("dlib", "faceres"))}
    vectors["fused"] = embedder.combine(parts)
    out: dict = {"calibration": {}}
    for name, v in vectors.items():
        fitted = openset.calibrate(v, person_of, folder.numbers, tuning)
        fitted.pop("calibration")
        shipped = CALIBRATIONS[name]
        fitted["shipped"] = {str(r): {"weight": w, "cohort_weight": c, "base": b, "slope": s}
                             for r, (w, c, b, s) in shipped.points.items()}
        fitted["shipped"]["tail"] = {"fraction": shipped.tail_fraction, "least": shipped.tail_least}
        out["calibration"][name] = fitted
    raw = DecisionRule.from_config(recognition, "fused")
    raw = DecisionRule(raw.threshold, raw.margin, raw.min_observations)
    floor_only = dataclasses.replace(CALIBRATIONS["fused"], own_tail=False)
    rules = {"fixed_threshold": raw,
             "floor_only_1e-2": raw.at_false_accept(0.01, floor_only),
             "floor_only_1e-3": raw.at_false_accept(0.001, floor_only),
             "false_accept_1e-2": raw.at_false_accept(0.01, CALIBRATIONS["fused"]),
             "false_accept_1e-3": raw.at_false_accept(0.001, CALIBRATIONS["fused"])}
    out["rules"] = {"fixed_threshold": f"fused similarity >= {raw.threshold}, margin >= {raw.margin}",
                    "floor_only_*": "fused similarity + weight * margin - cohort_weight * cohort "
                                    ">= base + slope * ln(photos) (the decision before the gallery's own tail)",
                    "false_accept_*": "the same score >= max(base + slope * ln(photos), the point of the "
                                      "gallery's own tail (each photo against the other people) for the rate)"}
    v = vectors["fused"]
    out["single_stills"] = {"whole_set": openset.single_stills(v, person_of, folder.numbers, np.ones_like(tuning), rules),
                            "held_out_half": openset.single_stills(v, person_of, folder.numbers, ~tuning, rules)}
    out["gallery_sizes"] = openset.gallery_sizes(v, person_of, folder.numbers, tuning, rules)
    # The same table with other draws of the galleries and folds: how much of a size's FPIR is the
    # draw (the strangers are the same people; which of them meet which gallery changes).
    shipped = {k: r for k, r in rules.items() if k.startswith("false_accept")}
    out["gallery_sizes_other_draws"] = {
        str(seed): [{"people": row["people"], **{k: {"fpir": r["fpir"], "fnir": r["fnir"]}
                                                  for k, r in row["rules"].items()}}
                    for row in openset.gallery_sizes(v, person_of, folder.numbers, tuning, shipped, rng_seed=seed)]
        for seed in (8, 9)}
    out["terminal"] = openset.terminal_protocols(v, person_of, folder.numbers, ~tuning, rules)
    return out


def tuning_half(identity: str) -> bool:
    """Which half of the people an identity falls in: a stable hash of the name, not the data order."""
    return hashlib.sha1(identity.encode()).digest()[0] % 2 == 0


def _open_set(vectors, identities, numbers, person_of, margin: float, threshold: float | None = None) -> dict:
    """Open-set figures; with `threshold`, also the rates of that fixed decision ("configured")."""
    gallery_idx, genuine_idx, impostor_idx = metrics.open_set_split(identities, numbers)
    probe_idx = np.concatenate([genuine_idx, impostor_idx])
    is_genuine = np.r_[np.ones(len(genuine_idx), bool), np.zeros(len(impostor_idx), bool)]
    rule = DecisionRule(2.0 if threshold is None else threshold, margin)
    best, score, m, accepted = _identify_ours(vectors, gallery_idx, probe_idx, person_of, rule)
    ident = metrics.identification(best, np.where(m >= margin, score, -2.0), person_of[probe_idx], is_genuine,
                                   None if threshold is None else accepted)
    ident["gallery"] = int(len(gallery_idx))
    return ident


def tune_fusion(parts: dict, folder, person_of, weights=(0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
                margins=(0.0, 0.005, 0.01, 0.015, 0.02)) -> dict:
    """Choose the fusion weight and margin on half the people; report on the other half.

    The people are split by a hash of their name; each half runs the open-set protocol on its own
    people only. The choice minimises FNIR at FPIR 1% plus FNIR at FPIR 0.1% on the tuning half;
    the tuning half's FPIR-1% threshold is then applied, unchanged, to the held-out half.
    """
    kinds = list(parts)
    dlib, faceres = unit_rows(parts[kinds[0]]), unit_rows(parts[kinds[1]])
    in_tuning = np.array([tuning_half(n) for n in folder.identities])
    halves = {}
    for name, mask in (("tuning", in_tuning), ("held_out", ~in_tuning)):
        idx = np.flatnonzero(mask)
        halves[name] = (idx, [folder.identities[i] for i in idx], [folder.numbers[i] for i in idx])

    def run(half, w, margin, threshold=None):
        idx, ids, nums = halves[half]
        if w is None:   # faceres alone
            v = faceres[idx]
        elif w == 1.0:  # dlib alone
            v = dlib[idx]
        else:
            v = np.concatenate([np.sqrt(w) * dlib[idx], np.sqrt(1 - w) * faceres[idx]], axis=1)
        return _open_set(v, ids, nums, person_of[idx], margin, threshold)

    grid = []
    for w in weights:
        for margin in margins:
            r = run("tuning", w, margin)
            grid.append({"dlib_weight": w, "margin": margin, "fnir_at_fpir_1e-2": r.get("fnir_at_fpir_1e-2"),
                         "fnir_at_fpir_1e-3": r.get("fnir_at_fpir_1e-3")})
    scored = [g for g in grid if g["fnir_at_fpir_1e-2"] is not None and g["fnir_at_fpir_1e-3"] is not None]
    if not scored:
        return {"note": "too few people to tune the fusion: each half needs genuine and impostor probes"}
    best = min(scored, key=lambda g: g["fnir_at_fpir_1e-2"] + g["fnir_at_fpir_1e-3"])
    held = {}
    for name, w, margin in (("dlib", 1.0, 0.01), ("faceres", None, 0.01),
                            ("fused", best["dlib_weight"], best["margin"])):
        tuned_threshold = run("tuning", w, margin)["threshold_at_fpir_1e-2"]
        r = run("held_out", w, margin, tuned_threshold)
        held[name] = {k: r.get(k) for k in ("rank1", "fnir_at_fpir_1e-2", "fnir_at_fpir_1e-3",
                                            "threshold_at_fpir_1e-2", "threshold_at_fpir_1e-3", "gallery",
                                            "genuine_probes", "impostor_probes")}
        held[name]["margin"] = margin
        held[name]["tuning_half_threshold_at_fpir_1e-2"] = tuned_threshold
        held[name]["at_tuning_half_threshold"] = r.get("configured")
    return {"split": "people split in two halves by a hash of their name (app.eval.run.tuning_half)",
            "tuning_people": int(len(set(halves["tuning"][1]))),
            "held_out_people": int(len(set(halves["held_out"][1]))),
            "grid_on_tuning_half": grid, "chosen": {"dlib_weight": best["dlib_weight"], "margin": best["margin"]},
            "held_out": held}

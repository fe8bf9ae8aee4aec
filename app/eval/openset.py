"""Open-set protocols of `daka eval lfw` that follow the terminal: a decision that holds its
false-accept rate as the gallery grows, and enrolment / probing with several photos.

- `calibrate`: on the tuning half of the people, random galleries of 25..700 people; for each
  score weight (score = similarity + weight * margin) the impostor threshold at each rate and
  gallery size, fitted as base + slope * ln(people) (the threshold's floor); the weight is chosen
  by FNIR. Then the share of the gallery's own tail (cohort.tail_threshold) that holds the 1%
  rate closest at every size, on galleries of 50..774 people of the tuning half.
- `gallery_sizes`: on the held-out half, the configured decision at galleries of 100, 300, 774
  and ~2,000 people (past the half's own people, one-image identities of the tuning half are
  enrolled as distractors). Strangers rotate: each held-out person is a stranger once.
- `terminal_protocols`: enrol k = 1 or 3 photos of each person with >= 4 images, probe with
  m = 1 or 3 photos decided by the pipeline's own rule (`decide`: aggregate, threshold, agreement
  of the observations), strangers the same way.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from app.vision.cohort import GalleryCohort
from app.vision.decision import FALSE_ACCEPT_RATES, Calibration, DecisionRule, TrackEvidence, decide
from app.vision.gallery import COHORT, FaceGallery

from . import metrics

PROBES_PER_PERSON = 10      # so that a few people with very many photos do not decide the figures
CALIBRATION_SIZES = (25, 50, 100, 200, 400, 700)
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5)
COHORT_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
GALLERY_SIZES = (100, 300, 774, 2000)
TAIL_SIZES = (50, 100, 300, 774)                 # tuning-half galleries the tail's share is chosen on
TAIL_FRACTIONS = (0.1, 0.15, 0.2, 0.25, 0.3)
TAIL_LEAST = (10, 20, 30)


def own_cohort(templates: np.ndarray, owners: np.ndarray):
    """The gallery's own cohort as the terminal keeps it (app.vision.cohort), for a gallery given
    as template vectors and their people."""
    cohort = GalleryCohort()
    for t, (v, p) in enumerate(zip(templates, owners)):
        cohort.add(t, int(p), v)
    return cohort.parts()


def _by_person(person_of: np.ndarray, numbers, idx: np.ndarray) -> dict[int, np.ndarray]:
    """Image indices of each person among `idx`, in LFW number order."""
    out: dict[int, list] = {}
    for i in sorted(idx.tolist(), key=lambda i: (person_of[i], numbers[i])):
        out.setdefault(int(person_of[i]), []).append(i)
    return {p: np.array(v) for p, v in out.items()}


def enough_people(person_of: np.ndarray, tuning: np.ndarray, least: int = 3) -> bool:
    """Whether each half has `least` people with one photo, with >= 2 and with >= 4."""
    for half in (tuning, ~tuning):
        counts = np.bincount(person_of[half])
        counts = counts[counts > 0]
        if min((counts == 1).sum(), (counts >= 2).sum(), (counts >= 4).sum()) < least:
            return False
    return True


def _search(probes: np.ndarray, gallery: np.ndarray, owners: np.ndarray):
    """(best person, best similarity, lead over the best other person, cohort: mean similarity of
    the next COHORT people) of each probe, as FaceGallery.match_many reports them; one template
    per person (k = 1)."""
    s = probes @ gallery.T
    n = len(probes)
    if s.shape[1] < 2:
        return owners[np.zeros(n, int)], s[:, 0], np.zeros(n), s[:, 0]
    k = min(COHORT + 1, s.shape[1])
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(s, top, 1)
    order = np.argsort(-vals, axis=1)
    top, vals = np.take_along_axis(top, order, 1), np.take_along_axis(vals, order, 1)
    return owners[top[:, 0]], vals[:, 0], vals[:, 0] - vals[:, 1], vals[:, 1:].mean(axis=1)


def _rates(score_gen, correct, score_imp) -> dict:
    out = {}
    for name, rate in (("1e-2", 1e-2), ("1e-3", 1e-3)):
        t = metrics.threshold_at_rate(score_imp, rate)
        out[f"fnir_at_fpir_{name}"] = float(np.mean(~(correct & (score_gen >= t))))
        out[f"threshold_at_fpir_{name}"] = t
    return out


def calibrate(vectors, person_of, numbers, tuning: np.ndarray, rng_seed: int = 21, draws: int = 10,
              weights=WEIGHTS, cohort_weights=COHORT_WEIGHTS, sizes=CALIBRATION_SIZES) -> dict:
    """Fit the score weight and threshold(rate, people) on the tuning half (see module doc)."""
    people = _by_person(person_of, numbers, np.flatnonzero(tuning))
    ids = np.array(sorted(people))
    multi = np.array([p for p in ids if len(people[p]) >= 2])
    single = np.array([p for p in ids if len(people[p]) == 1])
    # The weight: FNIR at FPIR 1% + 0.1% with the 774-style split inside the tuning half.
    gal = np.array([people[p][0] for p in multi])
    gen = np.concatenate([people[p][1:1 + PROBES_PER_PERSON] for p in multi])
    imp = np.array([people[p][0] for p in single])
    g_who, g_sim, g_lead, g_co = _search(vectors[gen], vectors[gal], multi)
    _, i_sim, i_lead, i_co = _search(vectors[imp], vectors[gal], multi)
    grid = []
    for w in weights:
        for c in cohort_weights:
            r = _rates(g_sim + w * g_lead - c * g_co, g_who == person_of[gen], i_sim + w * i_lead - c * i_co)
            grid.append({"weight": w, "cohort_weight": c,
                         **{k: r[k] for k in ("fnir_at_fpir_1e-2", "fnir_at_fpir_1e-3")}})
    # Each rate gets the weights that miss fewest enrolled people at it.
    chosen = {rate: (lambda g: (g["weight"], g["cohort_weight"]))(min(grid, key=lambda g: g[f"fnir_at_fpir_{name}"]))
              for rate, name in ((0.01, "1e-2"), (0.001, "1e-3"))}
    # The threshold as a function of the gallery size, for that weight (sizes that leave a fifth
    # of the people as strangers; a small folder gets two sizes of its own).
    sizes = [n for n in sizes if n <= 0.8 * len(ids)] or sorted({max(2, len(ids) // 4), max(3, len(ids) // 2)})
    rng = np.random.default_rng(rng_seed)
    pooled = {(rate, n): [] for rate in FALSE_ACCEPT_RATES for n in sizes}
    for n in sizes:
        for _ in range(draws):
            order = rng.permutation(ids)
            enrolled, strangers = order[:n], order[n:]
            probes = np.concatenate([people[p][:PROBES_PER_PERSON] for p in strangers])
            _, sim, lead, co = _search(vectors[probes], vectors[[people[p][0] for p in enrolled]], enrolled)
            for rate in FALSE_ACCEPT_RATES:
                w, c = chosen[rate]
                pooled[rate, n].append(sim + w * lead - c * co)
    points, table = {}, []
    for rate in FALSE_ACCEPT_RATES:
        xs, ts = [], []
        for n in sizes:
            t = metrics.threshold_at_rate(np.concatenate(pooled[rate, n]), rate)
            xs.append(math.log(n))
            ts.append(t)
            table.append({"rate": rate, "people": n, "threshold": round(t, 4),
                          "impostor_probes": int(sum(len(x) for x in pooled[rate, n]))})
        slope, base = np.polyfit(xs, ts, 1)
        points[rate] = (*chosen[rate], round(float(base), 4), round(float(slope), 5))
    tail = choose_tail(vectors, person_of, numbers, tuning, points)
    return {"data": "tuning half of the people (app.eval.run.tuning_half)",
            "weight_grid_774_style": grid, "thresholds_by_size": table,
            "fit": {str(r): {"weight": w, "cohort_weight": c, "base": b, "slope": s}
                    for r, (w, c, b, s) in points.items()},
            "tail": tail,
            "calibration": Calibration(points, tail_fraction=tail["chosen"]["fraction"],
                                       tail_least=tail["chosen"]["least"])}


def choose_tail(vectors, person_of, numbers, tuning: np.ndarray, points: dict, sizes=TAIL_SIZES,
                fractions=TAIL_FRACTIONS, least=TAIL_LEAST) -> dict:
    """The share of the gallery's own tail (and its least count) whose threshold, with the floor
    of `points`, keeps the 1% setting's FPIR closest to 1% at every size (the largest
    |ln(FPIR / 1%)| over the sizes, smallest), on galleries of the tuning half's own people with
    its own strangers (gallery_sizes run inside the half). The 0.1% setting reads the same fitted
    tail further out."""
    count = int(len(np.unique(person_of[tuning])))
    sizes = [n for n in sizes if n <= 0.85 * count] or [max(2, count // 4), max(3, count // 2)]
    rules = {}
    for f in fractions:
        for k in least:
            calibration = Calibration(points, tail_fraction=f, tail_least=k)
            for rate in FALSE_ACCEPT_RATES:
                rules[(f, k, rate)] = DecisionRule(2.0, 0.0).at_false_accept(rate, calibration)
    floor = Calibration(points, own_tail=False)
    for rate in FALSE_ACCEPT_RATES:
        rules[("floor", 0, rate)] = DecisionRule(2.0, 0.0).at_false_accept(rate, floor)
    rows = gallery_sizes(vectors, person_of, numbers, ~tuning, rules, sizes=sizes)
    grid = []
    for (f, k, rate) in rules:
        if rate != FALSE_ACCEPT_RATES[0]:
            continue
        fpir = {str(row["people"]): {str(r): round(row["rules"][(f, k, r)]["fpir"], 5) for r in FALSE_ACCEPT_RATES}
                for row in rows}
        worst = max(abs(math.log(max(row["rules"][(f, k, rate)]["fpir"], rate / 10) / rate)) for row in rows)
        grid.append({"fraction": f, "least": k, "worst_log_ratio_1e-2": round(worst, 3), "fpir": fpir})
    tails = [g for g in grid if g["fraction"] != "floor"]
    best = min(tails, key=lambda g: (g["worst_log_ratio_1e-2"], -g["fraction"]))
    return {"data": "tuning half: its people enrolled and its strangers, 10 rotating folds", "sizes": sizes,
            "grid": grid, "chosen": {"fraction": best["fraction"], "least": best["least"]}}


def gallery_sizes(vectors, person_of, numbers, tuning: np.ndarray, rules: dict, sizes=GALLERY_SIZES,
                  folds: int = 10, rng_seed: int = 7) -> list[dict]:
    """The decisions in `rules` (name -> DecisionRule, k = 1, m = 1) at each gallery size, on the
    held-out half (see module doc)."""
    held = _by_person(person_of, numbers, np.flatnonzero(~tuning))
    extra = _by_person(person_of, numbers, np.flatnonzero(tuning))
    ids = np.array(sorted(held))
    rng = np.random.default_rng(rng_seed)
    fold_of = dict(zip(rng.permutation(ids).tolist(), np.arange(len(ids)) % folds))
    distractors = rng.permutation(np.array(sorted(extra)))
    out = []
    for n in sizes:
        gen_scores = {name: [] for name in rules}
        imp_scores = {name: [] for name in rules}
        accepted = {name: ([], []) for name in rules}
        thresholds = {name: [] for name in rules}
        correct_all, people, fillers = [], [], []
        who_of_imp, on_filler = [], []    # each stranger photo's person; matched to a distractor?
        for f in range(folds):
            candidates = np.array([p for p in ids if fold_of[p] != f])
            strangers = [p for p in ids if fold_of[p] == f]
            if n <= len(candidates):
                enrolled = rng.permutation(candidates)[:n]
                filler = np.array([], int)
            else:
                enrolled = candidates
                filler = distractors[:n - len(candidates)]
            owners = np.concatenate([enrolled, filler])
            templates = [held[p][0] for p in enrolled] + [extra[p][0] for p in filler]
            gen = np.concatenate([held[p][1:1 + PROBES_PER_PERSON] for p in enrolled])
            imp = np.concatenate([held[p][:PROBES_PER_PERSON] for p in strangers])
            g_who, g_sim, g_lead, g_co = _search(vectors[gen], vectors[templates], owners)
            i_who, i_sim, i_lead, i_co = _search(vectors[imp], vectors[templates], owners)
            own = own_cohort(vectors[templates], owners)
            fillers.append(len(filler))
            who_of_imp.append(person_of[imp])
            on_filler.append(np.isin(i_who, filler))
            correct = g_who == person_of[gen]
            correct_all.append(correct)
            people.append(len(owners))
            for name, rule in rules.items():
                gen_scores[name].append(rule.score(g_sim, g_lead, g_co))
                imp_scores[name].append(rule.score(i_sim, i_lead, i_co))
                t = rule.threshold_for(len(owners), own)
                thresholds[name].append(t)
                accepted[name][0].append((rule.score(g_sim, g_lead, g_co) >= t if rule.by_false_accept
                                          else rule.passes_many(g_sim, g_lead)) & correct)
                accepted[name][1].append(rule.score(i_sim, i_lead, i_co) >= t if rule.by_false_accept
                                         else rule.passes_many(i_sim, i_lead))
        correct = np.concatenate(correct_all)
        who_of_imp, on_filler = np.concatenate(who_of_imp), np.concatenate(on_filler)
        row = {"people": int(np.mean(people)), "genuine_probes": int(len(correct)),
               "impostor_probes": int(sum(len(x) for x in imp_scores[next(iter(rules))])),
               "distractors": int(np.mean(fillers)), "rules": {}}
        for name, rule in rules.items():
            g_ok, i_ok = np.concatenate(accepted[name][0]), np.concatenate(accepted[name][1])
            row["rules"][name] = {"fpir": float(np.mean(i_ok)), "fnir": float(np.mean(~g_ok)),
                                  "false_accepts": int(i_ok.sum()),
                                  # how many different strangers make the false accepts (a few
                                  # people with many photos can make most of them), and how many
                                  # were taken for a one-photo distractor of the other half
                                  "strangers_accepted": int(len(np.unique(who_of_imp[i_ok]))),
                                  "accepted_as_distractor": int((i_ok & on_filler).sum()),
                                  # mean over the folds (each fold's gallery has its own)
                                  "threshold": round(float(np.mean(thresholds[name])), 4),
                                  **_rates(np.concatenate(gen_scores[name]), correct,
                                           np.concatenate(imp_scores[name]))}
        out.append(row)
    return out


def single_stills(vectors, person_of, numbers, mask: np.ndarray, rules: dict) -> dict:
    """The 774-style protocol (gallery = first photo of each person with >= 2, genuine probes = the
    others, strangers = the people with one photo) among the people of `mask`, for each rule: its
    configured FNIR / FPIR and FNIR at FPIR 1% / 0.1% with its own score swept."""
    people = _by_person(person_of, numbers, np.flatnonzero(mask))
    multi = np.array([p for p in sorted(people) if len(people[p]) >= 2])
    gal = [people[p][0] for p in multi]
    gen = np.concatenate([people[p][1:] for p in multi])
    imp = np.array([people[p][0] for p in sorted(people) if len(people[p]) == 1])
    g_who, g_sim, g_lead, g_co = _search(vectors[gen], vectors[gal], multi)
    _, i_sim, i_lead, i_co = _search(vectors[imp], vectors[gal], multi)
    correct = g_who == person_of[gen]
    own = own_cohort(vectors[gal], multi)
    out = {"people": len(multi), "genuine_probes": len(gen), "impostor_probes": len(imp),
           "rank1": float(np.mean(correct)), "rules": {}}
    for name, rule in rules.items():
        ok_g = rule.accepts_many(g_sim, g_lead, len(multi), g_co, own) & correct
        ok_i = rule.accepts_many(i_sim, i_lead, len(multi), i_co, own)
        out["rules"][name] = {"fnir": float(np.mean(~ok_g)), "fpir": float(np.mean(ok_i)),
                              "threshold": round(float(rule.threshold_for(len(multi), own)), 4),
                              **_rates(rule.score(g_sim, g_lead, g_co), correct, rule.score(i_sim, i_lead, i_co))}
    return out


def _groups(images: np.ndarray, m: int, cap: int, rng) -> list[np.ndarray]:
    """Up to `cap` distinct sets of m images of one person (all of them once when m = 1)."""
    if m == 1:
        return [images[i:i + 1] for i in range(min(cap, len(images)))]
    if len(images) < m:
        return []
    if math.comb(len(images), m) <= cap:   # few enough: all of them
        return [images[list(pick)] for pick in itertools.combinations(range(len(images)), m)]
    seen, out = set(), []
    for _ in range(4 * cap):
        pick = tuple(sorted(rng.choice(len(images), m, replace=False).tolist()))
        if pick not in seen:
            seen.add(pick)
            out.append(images[list(pick)])
        if len(out) == cap:
            break
    return out


def _decide_groups(gallery: FaceGallery, vectors, groups, rule: DecisionRule):
    """The pipeline's rule on each group of photos (one photo = one observation, equal weights):
    (candidate, score, passes the agreement rule, accepted)."""
    out = []
    flat = np.concatenate(groups)
    votes = gallery.match_many(vectors[flat])
    at = 0
    for g in groups:
        evidence = TrackEvidence(capacity=max(8, len(g)))
        for i in range(len(g)):
            evidence.add(vectors[g[i]], 1.0, votes[at + i].staff_id, votes[at + i])
        at += len(g)
        r = decide(gallery, evidence, rule)
        agree = r.agreeing >= rule.min_observations and evidence.votes[-1] == r.candidate_id
        out.append((r.candidate_id, r.score, agree, r.known))
    return out


def terminal_protocols(vectors, person_of, numbers, held_out: np.ndarray, rules: dict, folds: int = 5,
                       rng_seed: int = 3) -> list[dict]:
    """FNIR / FPIR for enrolment of k photos and probes of m photos (see module doc), on the
    people of `held_out`; `rules` name -> DecisionRule (min_observations applies when m > 1)."""
    people = _by_person(person_of, numbers, np.flatnonzero(held_out))
    ids = np.array(sorted(people))
    rng = np.random.default_rng(rng_seed)
    fold_of = dict(zip(rng.permutation(ids).tolist(), np.arange(len(ids)) % folds))
    four = [p for p in ids if len(people[p]) >= 4]
    out = []
    for k in (1, 3):
        for m in (1, 3):
            cap = PROBES_PER_PERSON if m == 1 else 4
            rows = {name: {"gen": [], "imp": []} for name in rules}
            for f in range(folds):
                enrolled = [p for p in four if fold_of[p] != f]
                strangers = [p for p in ids if fold_of[p] == f]
                gallery = FaceGallery(dim=vectors.shape[1])
                t = 0
                for p in enrolled:
                    for i in people[p][:k]:
                        gallery.add(t, int(p), vectors[i])
                        t += 1
                # probes after the third photo for k = 1 and 3 alike: the same probes for both
                gen = [(g, p) for p in enrolled for g in _groups(people[p][3:], m, cap, rng)]
                imp = [(g, -1) for p in strangers for g in _groups(people[p], m, cap, rng)]
                for name, rule in rules.items():
                    rule_m = rule if m > 1 else DecisionRule(rule.threshold, rule.margin, 1, rule.false_accept,
                                                             rule.calibration)
                    for kind, probes in (("gen", gen), ("imp", imp)):
                        if probes:
                            decided = _decide_groups(gallery, vectors, [g for g, _ in probes], rule_m)
                            rows[name][kind] += [(c == p, s, a, ok) for (c, s, a, ok), (_, p) in zip(decided, probes)]
            entry = {"k": k, "m": m, "rules": {}}
            for name, r in rows.items():
                gen, imp = np.array(r["gen"], float), np.array(r["imp"], float)
                entry["genuine_probes"], entry["impostor_probes"] = len(gen), len(imp)
                if not len(gen) or not len(imp):
                    entry["rules"][name] = {"note": "no genuine or no stranger probes"}
                    continue
                # swept: the score where the agreement rule holds (else never accepted)
                g_score = np.where(gen[:, 2] > 0, gen[:, 1], -np.inf)
                i_score = np.where(imp[:, 2] > 0, imp[:, 1], -np.inf)
                entry["rules"][name] = {"fnir": float(np.mean(~((gen[:, 0] > 0) & (gen[:, 3] > 0)))),
                                        "fpir": float(np.mean(imp[:, 3] > 0)),
                                        "false_accepts": int((imp[:, 3] > 0).sum()),
                                        **_rates(g_score, gen[:, 0] > 0, i_score)}
            out.append(entry)
    return out

"""Verification and open-set identification figures from scores (higher = more alike)."""

from __future__ import annotations

import numpy as np


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability that a genuine score beats an impostor score (ties count half)."""
    scores = np.concatenate([genuine, impostor])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks over ties
    sorted_scores = scores[order]
    _, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for s, c in zip(start, counts):
        if c > 1:
            ranks[order[s:s + c]] = (2 * s + c + 1) / 2
    n_g, n_i = len(genuine), len(impostor)
    return float((ranks[:n_g].sum() - n_g * (n_g + 1) / 2) / (n_g * n_i))


def threshold_at_rate(impostor_scores: np.ndarray, rate: float) -> float:
    """Smallest threshold t with fraction(impostor >= t) <= rate (accept when score >= t)."""
    s = np.sort(np.asarray(impostor_scores, np.float64))[::-1]
    allowed = int(np.floor(rate * len(s)))
    if allowed >= len(s):
        return -np.inf
    return float(np.nextafter(s[allowed], np.inf))


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    candidates = np.unique(scores)
    mids = np.concatenate([[candidates[0] - 1e-6], (candidates[1:] + candidates[:-1]) / 2, [candidates[-1] + 1e-6]])
    acc = [np.mean((scores >= t) == same) for t in mids]
    return float(mids[int(np.argmax(acc))])


def verification(scores: np.ndarray, same: np.ndarray, fold: np.ndarray, threshold: float) -> dict:
    genuine, impostor = scores[same], scores[~same]
    fold_acc, fold_thr = [], []
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        t = best_accuracy_threshold(scores[train], same[train])
        fold_thr.append(t)
        fold_acc.append(float(np.mean((scores[test] >= t) == same[test])))
    out = {
        "pairs": int(len(scores)),
        "accuracy_at_threshold": float(np.mean((scores >= threshold) == same)),
        "threshold": threshold,
        "kfold_accuracy": float(np.mean(fold_acc)),
        "kfold_accuracy_std": float(np.std(fold_acc)),
        "kfold_thresholds": [round(t, 4) for t in fold_thr],
        "roc_auc": roc_auc(genuine, impostor),
    }
    for name, far in (("tar_at_far_1e-2", 1e-2), ("tar_at_far_1e-3", 1e-3)):
        t = threshold_at_rate(impostor, far)
        out[name] = float(np.mean(genuine >= t))
    return out


def open_set_split(identities: list[str], numbers: list[int]):
    """Gallery = first image of each identity with >= 2 images; genuine probes = its other images;
    impostor probes = the image of each identity with exactly one."""
    by_person: dict[str, list[int]] = {}
    for i, name in enumerate(identities):
        by_person.setdefault(name, []).append(i)
    gallery, genuine, impostor = [], [], []
    for name, idx in by_person.items():
        idx = sorted(idx, key=lambda i: numbers[i])
        if len(idx) >= 2:
            gallery.append(idx[0])
            genuine.extend(idx[1:])
        else:
            impostor.append(idx[0])
    return np.array(gallery, int), np.array(genuine, int), np.array(impostor, int)


def identification(best_id: np.ndarray, score: np.ndarray, true_id: np.ndarray, is_genuine: np.ndarray,
                   accepted: np.ndarray | None = None) -> dict:
    """Open-set figures from each probe's best gallery identity and decision score.

    A genuine probe is missed when nothing passes or the accepted identity is wrong; an
    impostor probe is a false positive when anything passes. `accepted` (optional) is the
    terminal's configured decision for each probe.
    """
    g, i = is_genuine, ~is_genuine
    correct = best_id == true_id
    out = {
        "genuine_probes": int(g.sum()),
        "impostor_probes": int(i.sum()),
        "rank1": float(np.mean(correct[g])) if g.any() else None,
    }
    for name, rate in (("1e-2", 1e-2), ("1e-3", 1e-3)):
        if not i.any() or not g.any():
            continue  # no impostors (or no genuine probes): no open-set rates
        t = threshold_at_rate(score[i], rate)
        out[f"fnir_at_fpir_{name}"] = float(np.mean(~(correct[g] & (score[g] >= t))))
        out[f"threshold_at_fpir_{name}"] = t
    if accepted is not None:
        out["configured"] = {
            "fnir": float(np.mean(~(correct[g] & accepted[g]))) if g.any() else None,
            "fpir": float(np.mean(accepted[i])) if i.any() else None,
        }
    return out

"""The gallery as its own cohort of strangers: how each enrolled photo scores against everyone else.

Every enrolled photo, searched against the *other* people of the gallery (leave its own person
out), is a stranger meeting exactly this gallery: same size, same crowding, same population. The
upper tail of those scores tells how high a stranger's best match reaches here, so the decision's
threshold can sit where only the configured share of strangers gets through (`tail_threshold`),
whatever the size of the staff and however alike their faces are.

Kept incrementally: for each photo, its best COHORT + 1 other people (best photo of each). A new
photo costs one product with every photo (O(photos x dim)) and a few row updates; a removal
re-searches only the photos that had its person among their best. The first use after a bulk
load builds everything at once with matrix products.
"""

from __future__ import annotations

import math

import numpy as np

COHORT = 10     # people after the best whose similarities make the cohort term of the decision
KEEP = COHORT + 1
_BLOCK = 512    # rows per matrix product when building


def tail_threshold(scores: np.ndarray, rate: float, fraction: float = 0.2, least: int = 10) -> float | None:
    """The score that `rate` of the scores would exceed, from an exponential fit to their upper
    tail (the top `fraction`, at least `least` of them): above that point scores fall off about
    exponentially, which lets a few hundred photos speak for a rate of 1 in 1,000. None when there
    are too few scores for a tail."""
    x = np.sort(np.asarray(scores, np.float64))[::-1]
    n = len(x)
    k = min(max(least, int(round(fraction * n))), n - 1)
    if k < least:
        return None
    u = x[k]                          # k scores lie above u
    share = k / n
    if rate >= share:
        return float(np.quantile(x, 1.0 - rate))
    scale = float(np.mean(x[:k] - u))
    return float(u + scale * math.log(share / rate))


class GalleryCohort:
    """Each enrolled photo's best other people (see module doc). Not thread-safe: the gallery
    calls it under its lock."""

    def __init__(self):
        self._vectors = np.zeros((0, 0), np.float32)   # row per photo (capacity grows)
        self._owner = np.zeros(0, np.int64)            # staff id of each row
        self._sims = np.zeros((0, KEEP), np.float32)   # best other people's similarities, best first
        self._who = np.zeros((0, KEEP), np.int64)      # and who they are (-1: none)
        self._row_of: dict[int, int] = {}              # template id -> row
        self._template_of: list[int] = []              # row -> template id
        # Top lists valid? Not until first used: a gallery loaded photo by photo at start-up is
        # then built with matrix products, not photo by photo.
        self._built = False
        self.version = 0                               # bumped on every change
        self._memo: dict = {}

    def __len__(self) -> int:
        return len(self._template_of)

    # -- changes -----------------------------------------------------------
    def add(self, template_id: int, staff_id: int, vector: np.ndarray) -> None:
        """A unit vector enrolled (or replaced) under `template_id`."""
        if template_id in self._row_of:
            self.remove([template_id])
        v = np.asarray(vector, np.float32).reshape(-1)
        n = len(self)
        self._grow(n + 1, len(v))
        self._vectors[n], self._owner[n] = v, staff_id
        self._sims[n], self._who[n] = -np.inf, -1
        self._row_of[template_id] = n
        self._template_of.append(template_id)
        self._changed()
        if self._built:
            self._insert(n)

    def remove(self, template_ids) -> None:
        rows = sorted((self._row_of[t] for t in template_ids if t in self._row_of), reverse=True)
        if not rows:
            return
        gone = {int(self._owner[r]) for r in rows}
        for r in rows:   # highest first: moving the last row into r never moves a row still to remove
            last = len(self) - 1
            t = self._template_of[r]
            del self._row_of[t]
            if r != last:
                moved = self._template_of[last]
                self._vectors[r], self._owner[r] = self._vectors[last], self._owner[last]
                self._sims[r], self._who[r] = self._sims[last], self._who[last]
                self._template_of[r] = moved
                self._row_of[moved] = r
            self._template_of.pop()
        self._changed()
        if self._built and len(self):
            n = len(self)
            # Rows that had a removed person among their best: that person's best photo may be
            # gone, or the next person must move up. Search those rows again.
            stale = np.flatnonzero(np.isin(self._who[:n], list(gone)).any(axis=1))
            self._search_rows(stale)

    def clear(self) -> None:
        self.__init__()

    # -- what the decision reads --------------------------------------------
    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(best similarity, lead over the next person, mean of the next COHORT) of every photo
        searched against the other people, as `FaceGallery.match` reports a probe's; photos of a
        gallery with one person are left out (they meet no one)."""
        if not self._built:
            self._build()
        n = len(self)
        sims = self._sims[:n].astype(np.float64)
        has = np.isfinite(sims[:, 0])
        sims = sims[has]
        best = sims[:, 0]
        second = sims[:, 1]
        lead = np.where(np.isfinite(second), best - second, 0.0)   # nobody else: no credit
        others = np.where(np.isfinite(sims[:, 1:]), sims[:, 1:], np.nan)
        counted = np.isfinite(sims[:, 1:]).sum(axis=1)
        cohort = np.where(counted > 0, np.nansum(np.nan_to_num(others, nan=0.0), axis=1) / np.maximum(counted, 1),
                          best)
        return best, lead, cohort

    def memo(self, key, compute):
        """`compute()` once per state of the cohort (thresholds are read on every decision)."""
        hit = self._memo.get(key)
        if hit is None or hit[0] != self.version:
            hit = (self.version, compute())
            self._memo[key] = hit
        return hit[1]

    # -- internals -----------------------------------------------------------
    def _changed(self) -> None:
        self.version += 1

    def _grow(self, rows: int, dim: int) -> None:
        n = len(self)
        if n == 0 and self._vectors.shape[1] != dim:   # the first photo sets the size
            self._vectors = np.zeros((0, dim), np.float32)
        if self._vectors.shape[1] != dim:
            raise ValueError(f"vector of size {dim} for a cohort of size {self._vectors.shape[1]}")
        cap = self._vectors.shape[0]
        if rows <= cap:
            return
        cap = max(rows, 2 * cap, 16)
        vectors = np.zeros((cap, dim), np.float32)
        vectors[:n] = self._vectors[:n]
        self._vectors = vectors
        self._resize_meta(cap)

    def _resize_meta(self, cap: int) -> None:
        n = len(self)
        owner = np.zeros(cap, np.int64)
        sims = np.full((cap, KEEP), -np.inf, np.float32)
        who = np.full((cap, KEEP), -1, np.int64)
        owner[:n], sims[:n], who[:n] = self._owner[:n], self._sims[:n], self._who[:n]
        self._owner, self._sims, self._who = owner, sims, who

    def _best_people(self, similarity: np.ndarray, own: int) -> tuple[np.ndarray, np.ndarray]:
        """The best KEEP other people (best photo of each) in one row of similarities."""
        n = len(self)
        owners = self._owner[:n]
        order = np.argsort(-similarity, kind="stable")
        sims = np.full(KEEP, -np.inf, np.float32)
        who = np.full(KEEP, -1, np.int64)
        seen = {own}
        k = 0
        for i in order:   # best first: the first photo of each person is that person's best
            p = int(owners[i])
            if p in seen:
                continue
            seen.add(p)
            sims[k], who[k] = similarity[i], p
            k += 1
            if k == KEEP:
                break
        return sims, who

    def _search_rows(self, rows: np.ndarray) -> None:
        n = len(self)
        for start in range(0, len(rows), _BLOCK):
            block = rows[start:start + _BLOCK]
            s = self._vectors[block] @ self._vectors[:n].T
            for r, row in zip(block, s):
                self._sims[r], self._who[r] = self._best_people(row, int(self._owner[r]))

    def _insert(self, r: int) -> None:
        """Row r is new: its own best people, and r as a candidate in every other row."""
        n = len(self)
        s = self._vectors[:n] @ self._vectors[r]
        own = int(self._owner[r])
        self._sims[r], self._who[r] = self._best_people(s, own)
        others = self._owner[:n] != own
        listed = self._who[:n] == own                      # rows that already list this person
        has = listed.any(axis=1)
        col = np.argmax(listed, axis=1)
        current = self._sims[np.arange(n), col]
        better_listed = others & has & (s > current)
        better_new = others & ~has & (s > self._sims[:n, KEEP - 1])
        if not (better_listed.any() or better_new.any()):
            return
        rows_l = np.flatnonzero(better_listed)
        self._sims[rows_l, col[rows_l]] = s[rows_l]
        rows_n = np.flatnonzero(better_new)
        self._sims[rows_n, KEEP - 1], self._who[rows_n, KEEP - 1] = s[rows_n], own
        touched = np.concatenate([rows_l, rows_n])
        order = np.argsort(-self._sims[touched], axis=1, kind="stable")
        self._sims[touched] = np.take_along_axis(self._sims[touched], order, 1)
        self._who[touched] = np.take_along_axis(self._who[touched], order, 1)

    def _build(self) -> None:
        n = len(self)
        if n:
            owners = self._owner[:n]
            people, index = np.unique(owners, return_inverse=True)
            by_person = np.argsort(index, kind="stable")          # columns grouped by person
            starts = np.flatnonzero(np.r_[True, np.diff(index[by_person]) != 0])
            for start in range(0, n, _BLOCK):
                s = self._vectors[start:min(n, start + _BLOCK)] @ self._vectors[:n].T
                # best photo of each person, then the best KEEP people other than one's own
                per = np.maximum.reduceat(s[:, by_person], starts, axis=1)
                per[np.arange(len(s)), index[start:start + len(s)]] = -np.inf
                k = min(KEEP, len(people))
                top = np.argpartition(-per, k - 1, axis=1)[:, :k]
                vals = np.take_along_axis(per, top, 1)
                order = np.argsort(-vals, axis=1, kind="stable")
                top, vals = np.take_along_axis(top, order, 1), np.take_along_axis(vals, order, 1)
                rows = slice(start, start + len(s))
                self._sims[rows], self._who[rows] = -np.inf, -1
                self._sims[rows, :k] = vals
                self._who[rows, :k] = np.where(np.isfinite(vals), people[top], -1)
        self._built = True

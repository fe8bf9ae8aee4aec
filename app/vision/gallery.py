"""The live gallery: enrolled face templates, searched by cosine similarity per identity.

Templates (one per enrolled photo) are stored L2-normalised in the native GalleryIndex, so its
Euclidean ranking is the cosine ranking (cos = 1 - d^2 / 2). A person may have several
templates; a match reports the best template of the best person and the best similarity of any
*other* person, whose difference is the decision margin. Thread-safe: the index allows one
thread to search while another enrols; the id maps are guarded by a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from app import native

from .cohort import COHORT, GalleryCohort


@dataclass(frozen=True)
class GalleryMatch:
    staff_id: int | None      # best person, None when the gallery is empty
    template_id: int | None
    similarity: float         # cosine similarity to that person's best template
    runner_up_staff_id: int | None
    runner_up_similarity: float  # best similarity of any other person (-1 when none)
    # Mean similarity of the next COHORT people after the best (as many as the search found;
    # the best's own similarity when there is no other): how crowded the face's neighbourhood is.
    cohort: float = -1.0

    @property
    def margin(self) -> float:
        return self.similarity - self.runner_up_similarity


def normalise(descriptors: np.ndarray) -> np.ndarray:
    d = np.ascontiguousarray(descriptors, dtype=np.float32)
    norms = np.linalg.norm(d, axis=-1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise ValueError("descriptor with zero or non-finite norm")
    return np.ascontiguousarray(d / norms, dtype=np.float32)


class FaceGallery:
    """`dim` None: the vector size is taken from the first template added (dlib's 128, faceres'
    1024 or the fused 1152), so a gallery made before the embedder is chosen still fits it."""

    def __init__(self, dim: int | None = None, search_depth: int = 32):
        self._index = native.GalleryIndex(dim) if dim else None
        self._staff_of: dict[int, int] = {}
        self._templates_of: dict[int, int] = {}   # staff id -> templates: the people count is O(1)
        # Every photo against the other people: the strangers this gallery would meet (the
        # decision's threshold reads their upper tail, see cohort.py)
        self._cohort = GalleryCohort()
        self._lock = threading.Lock()
        self.dim = dim
        self._fixed_dim = dim
        self.search_depth = search_depth

    def __len__(self) -> int:
        return len(self._index) if self._index is not None else 0

    def _index_for(self, dim: int):
        if self._index is None:
            self._index, self.dim = native.GalleryIndex(dim), dim
        elif dim != self.dim:
            raise ValueError(f"descriptor of size {dim} for a gallery of size {self.dim} "
                             "(templates of another model: run `daka reindex`)")
        return self._index

    @property
    def people(self) -> int:
        """How many people are enrolled (the decision's threshold follows it)."""
        return len(self._templates_of)

    def _count(self, staff_id: int, change: int) -> None:
        left = self._templates_of.get(staff_id, 0) + change
        if left > 0:
            self._templates_of[staff_id] = left
        else:
            self._templates_of.pop(staff_id, None)

    def staff_ids(self) -> set[int]:
        with self._lock:
            return set(self._staff_of.values())

    def add(self, template_id: int, staff_id: int, descriptor: np.ndarray) -> None:
        vector = normalise(np.asarray(descriptor).reshape(1, -1))
        with self._lock:
            index = self._index_for(vector.shape[1])
            if template_id in self._staff_of:
                index.replace(np.array([template_id], np.int64), vector)
                self._count(self._staff_of[template_id], -1)
            else:
                index.add(np.array([template_id], np.int64), vector)
            self._staff_of[template_id] = staff_id
            self._count(staff_id, +1)
            self._cohort.add(template_id, staff_id, vector[0])

    def remove_templates(self, template_ids) -> int:
        ids = np.asarray(list(template_ids), np.int64)
        with self._lock:
            removed = self._index.remove(ids) if len(ids) and self._index is not None else 0
            for t in ids.tolist():
                staff = self._staff_of.pop(t, None)
                if staff is not None:
                    self._count(staff, -1)
            self._cohort.remove(ids.tolist())
        return removed

    def remove_staff(self, staff_id: int) -> int:
        with self._lock:
            templates = [t for t, s in self._staff_of.items() if s == staff_id]
        return self.remove_templates(templates)

    def clear(self) -> None:
        with self._lock:
            if self._fixed_dim is None:   # the next templates may come from another embedder
                self._index, self.dim = None, None
            elif self._index is not None:
                self._index.remove(self._index.ids())
            self._staff_of.clear()
            self._templates_of.clear()
            self._cohort.clear()

    def entries(self) -> dict[int, int]:
        """Template id -> staff id of every enrolled template (a snapshot)."""
        with self._lock:
            return dict(self._staff_of)

    @property
    def revision(self) -> int:
        """Changes with every add, removal or replacement (the memoised threshold follows it)."""
        with self._lock:
            return self._cohort.version

    def replace_all(self, templates) -> None:
        """Make the gallery exactly `templates` ((template id, staff id, descriptor) triples) in one
        step: the new index and cohort are built aside, then swapped in, so a face matched meanwhile
        meets the old gallery or the new one, never an empty or half-loaded one, and the lock is
        not held while the cohort is built (seconds for thousands of photos)."""
        items = list(templates)
        ids = np.array([t for t, _, _ in items], np.int64)
        staff = [s for _, s, _ in items]
        vectors = normalise(np.stack([np.asarray(d, np.float32).reshape(-1) for _, _, d in items])) \
            if items else None
        dim = self._fixed_dim or (vectors.shape[1] if vectors is not None else None)
        if vectors is not None and dim != vectors.shape[1]:
            raise ValueError(f"descriptor of size {vectors.shape[1]} for a gallery of size {dim}")
        index = native.GalleryIndex(dim) if dim else None
        cohort = GalleryCohort()
        if vectors is not None:
            index.add(ids, vectors)
            for t, s, v in zip(ids.tolist(), staff, vectors):
                cohort.add(t, s, v)
            cohort.parts()   # built here, with matrix products, outside the lock
        staff_of = dict(zip(ids.tolist(), staff))
        templates_of: dict[int, int] = {}
        for s in staff:
            templates_of[s] = templates_of.get(s, 0) + 1
        with self._lock:
            cohort.version = self._cohort.version + 1   # a memo of the old gallery never answers for this one
            self._index, self.dim = index, dim
            self._staff_of, self._templates_of, self._cohort = staff_of, templates_of, cohort

    def prepare(self) -> None:
        """Build the gallery's own cohort now (after a bulk load) rather than at the first decision."""
        with self._lock:
            self._cohort.parts()

    def cohort_memo(self, key, compute):
        """`compute(parts)` of the gallery's own cohort (each photo against the other people:
        best similarity, lead, mean of the next people; see cohort.py), once per state of the
        gallery: the decision reads its threshold from it on every track."""
        with self._lock:
            cohort = self._cohort
            return cohort.memo(key, lambda: compute(cohort.parts()))

    def match(self, descriptor: np.ndarray) -> GalleryMatch:
        """The best person for one descriptor, with the runner-up for the margin."""
        return self.match_many(np.asarray(descriptor).reshape(1, -1))[0]

    def match_many(self, descriptors: np.ndarray) -> list[GalleryMatch]:
        queries = normalise(np.atleast_2d(np.asarray(descriptors)))
        index, dim = self._index, self.dim   # one index throughout: replace_all may swap in another
        k = min(len(index) if index is not None else 0, self.search_depth)
        if k == 0:
            return [GalleryMatch(None, None, -1.0, None, -1.0) for _ in range(len(queries))]
        if queries.shape[1] != dim:
            raise ValueError(f"query of size {queries.shape[1]} for a gallery of size {dim}")
        ids, distances = index.search(queries, k)
        with self._lock:
            staff_of = dict(self._staff_of)
        out = []
        for row_ids, row_d in zip(ids, distances):
            best: dict[int, tuple[float, int]] = {}
            for t, d in zip(row_ids.tolist(), row_d.tolist()):
                staff = staff_of.get(t)
                if t < 0 or staff is None or staff in best:
                    continue  # results come best first: the first hit per person is their best
                best[staff] = (1.0 - d * d / 2.0, t)
            ranked = sorted(best.items(), key=lambda item: -item[1][0])
            if not ranked:
                out.append(GalleryMatch(None, None, -1.0, None, -1.0))
                continue
            (staff, (sim, template)) = ranked[0]
            runner = ranked[1] if len(ranked) > 1 else (None, (-1.0, None))
            others = [s for _, (s, _) in ranked[1:1 + COHORT]]
            cohort = sum(others) / len(others) if others else sim
            out.append(GalleryMatch(staff, template, sim, runner[0], runner[1][0], cohort))
        return out

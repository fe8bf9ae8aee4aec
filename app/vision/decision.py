"""Who is this track? Aggregate a track's descriptors and apply the decision rules.

Rules (thresholds calibrated with `daka eval lfw`, kept in [recognition]):
- the aggregated descriptor's best person must reach `threshold` cosine similarity;
- it must beat the best *other* person by `margin` (an impostor tends to sit between
  several enrolled people; a genuine face stands out from the rest);
- at least `min_observations` of the track's own observations must name the same person, the
  latest among them: the face under the track now is that person.
Anything else is reported as unknown, with the figures that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .embedders import unit_rows


@dataclass(frozen=True)
class DecisionRule:
    threshold: float
    margin: float
    min_observations: int = 1

    @classmethod
    def from_config(cls, recognition, embedder: str = "dlib") -> "DecisionRule":
        """The rule for an embedder kind: each has its own similarity scale, so its own figures."""
        if embedder == "faceres":
            return cls(recognition.faceres_threshold, recognition.faceres_margin, recognition.min_observations)
        if embedder == "fused":
            return cls(recognition.fused_threshold, recognition.fused_margin, recognition.min_observations)
        return cls(recognition.threshold, recognition.margin, recognition.min_observations)

    def passes(self, similarity: float, margin: float) -> bool:
        return similarity >= self.threshold and margin >= self.margin

    def passes_many(self, similarity: np.ndarray, margin: np.ndarray) -> np.ndarray:
        return (np.asarray(similarity) >= self.threshold) & (np.asarray(margin) >= self.margin)


@dataclass(frozen=True)
class Recognition:
    """A track's identity as decided now: staff_id None means unknown."""

    staff_id: int | None
    candidate_id: int | None   # best person even when not accepted (for logs and tuning)
    similarity: float
    margin: float
    agreeing: int              # observations whose own best person is the candidate
    observations: int
    reason: str                # "accepted", "below_threshold", "low_margin", "few_observations", "empty_gallery"
    attributes: object | None = None  # FaceAttributes (gender, age) when the embedder estimates them

    @property
    def known(self) -> bool:
        return self.staff_id is not None


@dataclass
class TrackEvidence:
    """The descriptors seen for one track (most recent `capacity`), weighted by view quality."""

    capacity: int = 8
    vectors: list = field(default_factory=list)
    weights: list = field(default_factory=list)
    votes: list = field(default_factory=list)   # best staff id of each observation alone

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, vector: np.ndarray, weight: float, vote: int | None) -> None:
        self.vectors.append(unit_rows(np.asarray(vector).reshape(1, -1))[0])
        self.weights.append(max(float(weight), 1e-3))
        self.votes.append(vote)
        if len(self.vectors) > self.capacity:
            del self.vectors[0], self.weights[0], self.votes[0]

    def aggregate(self) -> np.ndarray:
        w = np.asarray(self.weights, np.float32)[:, None]
        return unit_rows((np.stack(self.vectors) * w).sum(axis=0, keepdims=True))[0]


def decide(gallery, evidence: TrackEvidence, rule: DecisionRule) -> Recognition:
    """Match the aggregated descriptor of a track and apply the rules."""
    n = len(evidence)
    if n == 0:
        raise ValueError("no observations to decide on")
    match = gallery.match(evidence.aggregate())
    if match.staff_id is None:
        return Recognition(None, None, -1.0, 0.0, 0, n, "empty_gallery")
    agreeing = sum(1 for v in evidence.votes if v == match.staff_id)
    if match.similarity < rule.threshold:
        reason = "below_threshold"
    elif match.margin < rule.margin:
        reason = "low_margin"
    elif agreeing < rule.min_observations or evidence.votes[-1] != match.staff_id:
        reason = "few_observations"
    else:
        reason = "accepted"
    staff = match.staff_id if reason == "accepted" else None
    return Recognition(staff, match.staff_id, float(match.similarity), float(match.margin), agreeing, n, reason)

"""Who is this track? Aggregate a track's descriptors and apply the decision rules.

Two ways to decide on the aggregated descriptor's best person (see ACCURACY.md):
- by false-accept rate (the default, [recognition] false_accept): the score
  `similarity + weight * margin` must reach the threshold where only the configured share of
  strangers (FPIR) would pass *in this gallery*: read from the upper tail of the gallery's own
  photos each searched against the other people (cohort.py), and never below a floor that grows
  with the log of the number of enrolled photos (calibrated with `daka eval lfw`). A fixed
  threshold lets more strangers through as people are added: each one is one more chance to match.
- by raw threshold (the expert setting, [recognition] decide_by_threshold): `threshold` cosine
  similarity and a lead of `margin` over the best *other* person (an impostor tends to sit
  between several enrolled people; a genuine face stands out from the rest);
and in both:
- at least `min_observations` of the track's own observations must name the same person, the
  latest among them: the face under the track now is that person.
Anything else is reported as unknown, with the figures that decided it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cohort import tail_threshold
from .embedders import unit_rows

# The false-accept rates a terminal may be set to: the everyday one and the strict door mode.
FALSE_ACCEPT_RATES = (0.01, 0.001)


@dataclass(frozen=True)
class Calibration:
    """How the score and its threshold follow the false-accept rate and the gallery.

    score = similarity + weight * margin - cohort_weight * cohort (the mean similarity of the
    next people after the best: a face in a crowded neighbourhood of the gallery must stand out
    more). threshold = the larger of
    - the gallery's own tail: the score that `rate` of the gallery's photos, each searched
      against the other people, would reach (an exponential fit to the top `tail_fraction` of
      them, at least `tail_least`): it follows the size and the crowding of this very gallery;
    - the floor base + slope * ln(photos), for galleries too small for a tail to say much.
    Fitted by `daka eval lfw` (section `openset.calibration`) on the tuning half of the people:
    the floor on galleries of 25 to 700 people, the tail's share on galleries of 50 to 774;
    `points` maps each rate to (weight, cohort_weight, base, slope): each rate has the weights
    that miss fewest enrolled people at it.
    """

    points: dict
    fitted_up_to: int = 700   # the largest gallery the floor was fitted on
    tail_fraction: float = 0.2
    tail_least: int = 10
    own_tail: bool = True     # False: the floor alone (the decision before the gallery's own tail)

    def score(self, rate: float, similarity, margin, cohort):
        weight, cohort_weight, _, _ = self.points[rate]
        return np.asarray(similarity) + weight * np.asarray(margin) - cohort_weight * np.asarray(cohort)

    def floor(self, rate: float, people: int) -> float:
        _, _, base, slope = self.points[rate]
        people = max(int(people), 2)
        if slope < 0:   # a falling threshold is not followed past the data: stay on the safe side
            people = min(people, self.fitted_up_to)
        return base + slope * math.log(people)

    def threshold(self, rate: float, people: int, own=None) -> float:
        """`own`: the gallery's own cohort (similarity, lead, cohort of each photo against the
        other people, FaceGallery.cohort_memo); None: the floor alone."""
        floor = self.floor(rate, people)
        if own is None or not self.own_tail or not len(own[0]):
            return floor
        tail = tail_threshold(self.score(rate, *own), rate, self.tail_fraction, self.tail_least)
        return floor if tail is None else max(floor, tail)


# Per embedder kind (each has its own similarity scale). From `daka eval lfw`, tuning half.
# The tail's share (fraction, least) per model: `openset.calibration.<model>.tail.chosen`.
CALIBRATIONS: dict[str, Calibration] = {
    "dlib": Calibration({0.01: (0.25, 0.25, 0.7311, -0.00148), 0.001: (0.25, 0.25, 0.7582, -0.00442)},
                        tail_fraction=0.1, tail_least=10),
    "faceres": Calibration({0.01: (0.25, 0.75, 0.3763, -0.01629), 0.001: (0.25, 0.5, 0.5228, -0.01267)},
                           tail_fraction=0.25, tail_least=10),
    "fused": Calibration({0.01: (0.25, 0.0, 0.8762, 0.00393), 0.001: (1.5, 0.0, 1.0404, -0.01303)},
                         tail_fraction=0.2, tail_least=10),
}


@dataclass(frozen=True)
class DecisionRule:
    threshold: float
    margin: float
    min_observations: int = 1
    # Deciding by false-accept rate: the rate and the calibration (None: by raw threshold and margin).
    false_accept: float | None = None
    calibration: Calibration | None = None

    @classmethod
    def from_config(cls, recognition, embedder: str = "dlib") -> "DecisionRule":
        """The rule for an embedder kind: each has its own similarity scale, so its own figures."""
        if embedder == "faceres":
            raw = (recognition.faceres_threshold, recognition.faceres_margin)
        elif embedder == "fused":
            raw = (recognition.fused_threshold, recognition.fused_margin)
        else:
            raw = (recognition.threshold, recognition.margin)
        rule = cls(*raw, recognition.min_observations)
        if getattr(recognition, "decide_by_threshold", True):
            return rule
        return rule.at_false_accept(recognition.false_accept, CALIBRATIONS[embedder])

    def at_false_accept(self, rate: float, calibration: Calibration) -> "DecisionRule":
        """The same rule deciding by false-accept rate (the raw threshold still tells faces apart
        within a track)."""
        if rate not in calibration.points:
            raise ValueError(f"no calibration for a false-accept rate of {rate}")
        return DecisionRule(self.threshold, self.margin, self.min_observations, rate, calibration)

    @property
    def by_false_accept(self) -> bool:
        return self.false_accept is not None

    def score(self, similarity, margin, cohort=None):
        """What the threshold is compared with (the similarity itself when deciding by threshold)."""
        if not self.by_false_accept:
            return similarity
        return self.calibration.score(self.false_accept, similarity, margin,
                                      similarity if cohort is None else cohort)

    def threshold_for(self, people: int, own=None) -> float:
        """The threshold in force with `people` enrolled photos and the gallery's own cohort
        `own` (see Calibration.threshold; None: the floor alone)."""
        if not self.by_false_accept:
            return self.threshold
        return self.calibration.threshold(self.false_accept, people, own)

    def threshold_in(self, gallery) -> float:
        """The threshold in force in a live gallery (computed once per change of the gallery)."""
        if not self.by_false_accept:
            return self.threshold
        return gallery.cohort_memo(("threshold", self.false_accept, id(self.calibration)),
                                   lambda own: self.threshold_for(len(gallery), own))

    def accepts(self, similarity: float, margin: float, people: int, cohort: float | None = None,
                own=None) -> bool:
        return bool(self.accepts_many(np.array([similarity]), np.array([margin]), people,
                                      None if cohort is None else np.array([cohort]), own)[0])

    def accepts_many(self, similarity: np.ndarray, margin: np.ndarray, people: int,
                     cohort: np.ndarray | None = None, own=None) -> np.ndarray:
        """`cohort` None: no other people known (the similarity stands in: no credit); `own`: the
        gallery's own cohort (see threshold_for)."""
        if not self.by_false_accept:
            return self.passes_many(similarity, margin)
        return self.score(similarity, margin, cohort) >= self.threshold_for(people, own)

    def passes(self, similarity: float, margin: float) -> bool:
        """The raw rule: threshold and margin (what `decide_by_threshold` uses)."""
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
    score: float | None = None        # what the threshold was compared with, and that threshold
    threshold: float | None = None

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

    matches: list = field(default_factory=list)   # each observation's own GalleryMatch (or None)

    def add(self, vector: np.ndarray, weight: float, vote: int | None, match=None) -> None:
        self.vectors.append(unit_rows(np.asarray(vector).reshape(1, -1))[0])
        self.weights.append(max(float(weight), 1e-3))
        self.votes.append(vote)
        self.matches.append(match)
        if len(self.vectors) > self.capacity:
            del self.vectors[0], self.weights[0], self.votes[0], self.matches[0]

    def aggregate(self) -> np.ndarray:
        w = np.asarray(self.weights, np.float32)[:, None]
        return unit_rows((np.stack(self.vectors) * w).sum(axis=0, keepdims=True))[0]


def lead(match) -> float:
    """The best person's lead over the best other one; 0 with no other person enrolled (no
    evidence that the face stands out, so no credit for it)."""
    return float(match.margin) if match.runner_up_staff_id is not None else 0.0


def _score(rule: DecisionRule, match, evidence: TrackEvidence) -> float:
    """The score of the decision. By false-accept rate, and when each observation's own match is
    known: the quality-weighted mean of the scores of the observations that name the candidate.
    A mean of single-view scores stays on the scale the threshold was calibrated on, where the
    aggregated descriptor of several different views scores higher against everyone (strangers
    too: 10% false accepts for three LFW photos at the 1% setting)."""
    if rule.by_false_accept and evidence.matches and all(m is not None for m in evidence.matches):
        own = [(w, m) for w, m in zip(evidence.weights, evidence.matches) if m.staff_id == match.staff_id]
        if own:
            scores = [float(rule.score(m.similarity, lead(m), m.cohort)) for _, m in own]
            return float(np.average(scores, weights=[w for w, _ in own]))
    return float(rule.score(match.similarity, lead(match), match.cohort))


def decide(gallery, evidence: TrackEvidence, rule: DecisionRule) -> Recognition:
    """Match the aggregated descriptor of a track and apply the rules."""
    n = len(evidence)
    if n == 0:
        raise ValueError("no observations to decide on")
    match = gallery.match(evidence.aggregate())
    if match.staff_id is None:
        return Recognition(None, None, -1.0, 0.0, 0, n, "empty_gallery")
    agreeing = sum(1 for v in evidence.votes if v == match.staff_id)
    score = _score(rule, match, evidence)
    # Every enrolled photo is one more chance for a stranger to match: the threshold follows them.
    threshold = rule.threshold_in(gallery)
    if rule.by_false_accept and score < threshold:
        reason = "below_threshold"
    elif not rule.by_false_accept and match.similarity < rule.threshold:
        reason = "below_threshold"
    elif not rule.by_false_accept and match.margin < rule.margin:
        reason = "low_margin"
    elif agreeing < rule.min_observations or evidence.votes[-1] != match.staff_id:
        reason = "few_observations"
    else:
        reason = "accepted"
    staff = match.staff_id if reason == "accepted" else None
    return Recognition(staff, match.staff_id, float(match.similarity), float(match.margin), agreeing, n, reason,
                       score=score, threshold=threshold)

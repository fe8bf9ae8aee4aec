"""The clock-in flow: which screen to show, decided from vision results, presence, taps and time.

A plain state machine with no UI and no threads: the Kivy app calls it on its own thread and
shows `flow.screen`; tests drive it directly with made-up times. Screens:
``live`` (camera view), ``confirm`` (a recognised person is asked to tap), ``result``
(success, already clocked in, not recognised, failure), ``idle`` (nobody near: a clock) and
``no_camera``. Confirming itself (the journal write) is not done here: `tap_confirm` returns
what to confirm, and the app reports back with `confirmed` / `confirm_failed`.

A card is for the face under its track, now: it is offered only for a track that names the
person on this vision result (the pipeline names a track only while the face under it is the one
its descriptors vouched for; another face gets another track), and it is withdrawn as soon as a
result shows that track gone (the person left, or another face stepped into the spot) or naming
someone else, or when it has named nobody for `unconfirmed_s` (the same face, unconfirmed).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.events import StaffCard, VisionUpdate

from .texts import has, text

LIVE, CONFIRM, RESULT, IDLE, NO_CAMERA = "live", "confirm", "result", "idle", "no_camera"
SETTLE_S, HOLD_S = 0.6, 1.5   # a hint shows once the same advice held this long, and stays at least this long
SUCCESS, ALREADY, UNKNOWN, LIVENESS, ERROR = "success", "already", "unknown", "liveness", "error"
# A card whose own track names nobody is withdrawn after `unconfirmed_s` AND this many such results
# in a row: a board that processes a frame a second (busy) must not lose a standing person's card
# to two results of a re-check.
UNCONFIRMED_RESULTS = 3


@dataclass(frozen=True)
class Pending:
    """A candidate waiting on the confirm card."""

    card: StaffCard
    track_id: int
    score: float
    box: tuple[float, float, float, float]
    shown_at: float
    deadline: float


@dataclass(frozen=True)
class Outcome:
    kind: str                          # success, already, unknown, liveness, error
    card: StaffCard | None = None
    result: object | None = None       # app.attendance.ClockInResult
    detail: str = ""


class SteadyPrompt:
    """The live view's hint, debounced: quality and liveness figures change from frame to frame (a
    face turning, a box re-fitted), and a bar switching between 请正对摄像头 / 请靠近 / 光线不足
    within a second tells nobody anything. New advice shows once it held for `settle_s`, and a
    shown hint stays at least `hold_s` (advice that never holds still changes nothing)."""

    def __init__(self, settle_s: float = SETTLE_S, hold_s: float = HOLD_S):
        self.settle_s, self.hold_s = settle_s, hold_s
        self.key: str | None = None          # what is shown
        self._candidate: str | None = None
        self._since = self._shown_at = float("-inf")

    def update(self, key: str | None, now: float) -> str | None:
        if key != self._candidate:
            self._candidate, self._since = key, now
        if key != self.key and now - self._since >= self.settle_s and now - self._shown_at >= self.hold_s:
            self.key, self._shown_at = key, now
        return self.key

    def text(self, language: str = "zh_CN") -> str:
        if self.key is None:
            return ""
        return text(self.key, language)


@dataclass(frozen=True)
class AutoPunch:
    """Clock in without a tap (a door where staff carry things): the card shows, and the punch is
    made once the same track has named the person on every result for `hold_s` with at least
    `min_similarity` (stricter than the recognition threshold: no one confirms). The card is
    withdrawn, as in tap mode, the moment its face changes or leaves."""

    min_similarity: float
    hold_s: float = 0.5


@dataclass(frozen=True)
class FlowTimes:
    confirm_s: float = 8.0     # the confirm card waits this long for a tap
    result_s: float = 4.0      # a result stays this long
    unknown_s: float = 2.5     # a good-quality face unknown this long gets "not recognised"
    idle_s: float = 30.0       # nobody near (or no face) this long: the idle clock
    quiet_s: float = 10.0      # after a card (confirmed, dismissed, timed out) the person is not asked again
                               # this long, even if tracking lost and found the face again
    away_s: float = 3.0        # a person no face was recognised as for this long has left: coming back is a new visit
    again_s: float | None = None   # a person who stays in view is asked again after this long (the dedupe
                                   # window); None: once per visit, as vendors' terminals do
    unconfirmed_s: float = 1.0  # a card's own track naming nobody this long (a missed pass, a re-check), and on
                                # UNCONFIRMED_RESULTS results in a row: withdrawn


class ClockInFlow:
    def __init__(self, times: FlowTimes | None = None, *, have_sensor: bool = False,
                 auto: AutoPunch | None = None):
        self.times = times or FlowTimes()
        self.have_sensor = have_sensor
        self.auto = auto
        self.auto_ready = False              # auto punch: the card's person may be clocked in now (the app does it)
        self.screen = LIVE
        self.pending: Pending | None = None
        self.outcome: Outcome | None = None
        self.hint: str | None = None         # quality reason of the nearest face on the live view
        self.liveness_hint = None            # the nearest face's LivenessResult while it asks for something
        self.prompt = SteadyPrompt()         # what the live view's hint bar says (debounced)
        self.submitting = False
        self._screen_until: float | None = None
        self._settled: set[int] = set()      # tracks that had their card, result or dismissal
        self._told_unknown: set[int] = set() # tracks told "not recognised" (may still be recognised later)
        self._not_me: set[tuple[int, int]] = set()
        self._quiet: dict[int, float] = {}   # staff id -> not asked again before this time
        # staff id -> when their card was answered (clocked in, "not me", ignored): not asked again
        # during this visit, that is until no face has been recognised as them for `away_s`
        self._held: dict[int, float] = {}
        self._seen: dict[int, float] = {}    # staff id -> last time a face was recognised as them
        self._unknown_since: dict[int, float] = {}
        self._last_activity: float | None = None   # set by the first tick
        self._camera_ok = True
        self._present: bool | None = None
        self.changes = 0                     # counts screen changes (the UI redraws on change)
        # cards taken back (their face changed or left), each by why: gone, someone else, refused, names nobody
        self.withdrawals: list[str] = []
        self._auto_since: float | None = None
        self._unconfirmed_since: float | None = None
        self._unconfirmed_results = 0

    # -- inputs ----------------------------------------------------------------------------
    def vision(self, update: VisionUpdate, now: float) -> None:
        tracks = update.result.tracks
        if tracks:
            self._last_activity = now
        live_ids = {t.track_id for t in tracks}
        self._unknown_since = {k: v for k, v in self._unknown_since.items() if k in live_ids}
        nearest = max(tracks, key=lambda t: t.box[2] - t.box[0], default=None)
        self.hint = nearest.quality.reason if nearest is not None and not nearest.quality.ok else None
        # a liveness request for a good face (请缓慢转头, 请稍微后退, 请正对屏幕中央)
        asking = (nearest is not None and self.hint is None and nearest.liveness is not None
                  and not nearest.live and bool(nearest.liveness.message()))
        self.liveness_hint = nearest.liveness if asking else None
        self.prompt.update(self._advice(nearest), now)
        if self.screen == IDLE and tracks:
            self._go(LIVE, now)
        self._visits(tracks, now)
        if self.screen == CONFIRM and self.pending is not None and not self.submitting:
            under = next((t for t in tracks if t.track_id == self.pending.track_id), None)
            if under is not None and under.staff_id == self.pending.card.staff_id:
                self._unconfirmed_since, self._unconfirmed_results = None, 0
                if self.auto is not None:
                    self._auto_check(under, now)
            elif under is None or under.staff_id is not None or (
                    under.liveness is not None and under.liveness.state == "spoof"):
                # gone, another face (a new track), someone else, or refused
                self.withdraw(now, "gone" if under is None else "someone else" if under.staff_id is not None
                              else "refused")
            else:
                # The same track (its face still looks like the views its descriptors vouched for)
                # names nobody on this result: a detection pass missed it, or a view is being
                # checked again. Not long, or the card goes.
                self.auto_ready = False
                if self._unconfirmed_since is None:
                    self._unconfirmed_since = now
                self._unconfirmed_results += 1
                if now - self._unconfirmed_since >= self.times.unconfirmed_s \
                        and self._unconfirmed_results >= UNCONFIRMED_RESULTS:
                    self.withdraw(now, "names nobody")
        if self.screen != LIVE:
            return
        for t in tracks:   # a recognised face that failed liveness: refused, nothing recorded
            if t.track_id not in self._settled and t.liveness is not None and t.liveness.state == "spoof" \
                    and t.recognition is not None and t.recognition.known:
                self.liveness_failed(now, t.track_id)
                return
        # t.staff_id is the recognised person only once the face passed liveness
        known = [t for t in tracks if t.staff_id is not None
                 and t.track_id not in self._settled
                 and (t.track_id, t.staff_id) not in self._not_me
                 and self._quiet.get(t.staff_id, 0.0) <= now
                 and t.staff_id not in self._held
                 and t.staff_id in update.cards]
        if known:
            best = max(known, key=lambda t: t.box[2] - t.box[0])
            card = update.cards[best.staff_id]
            self.pending = Pending(card, best.track_id, best.recognition.similarity, best.box, now,
                                   now + self.times.confirm_s)
            self._go(CONFIRM, now, until=self.pending.deadline)
            self._auto_since, self._unconfirmed_since, self._unconfirmed_results = now, None, 0
            if self.auto is not None:
                self._auto_check(best, now)
            return
        for t in tracks:
            rec = t.recognition
            if t.track_id in self._settled or t.track_id in self._told_unknown or rec is None \
                    or rec.known or not t.quality.ok:
                continue
            if rec.reason in ("below_threshold", "low_margin", "empty_gallery"):
                since = self._unknown_since.setdefault(t.track_id, now)
                if now - since >= self.times.unknown_s:
                    self._told_unknown.add(t.track_id)
                    self._show(Outcome(UNKNOWN), now)
                    return

    def presence(self, present: bool | None, now: float) -> None:
        """The distance sensor's debounced presence (None: no sensor answering)."""
        if present or self._present:   # someone is near, or has just left: count from now
            self._last_activity = now
        self._present = present
        if present:
            if self.screen == IDLE:
                self._go(LIVE, now)

    def camera(self, ok: bool, now: float) -> None:
        self._camera_ok = ok
        if not ok and self.screen in (LIVE, IDLE):
            self._go(NO_CAMERA, now)
        elif ok and self.screen == NO_CAMERA:
            self._last_activity = now
            self._go(LIVE, now)

    def tap_confirm(self, now: float) -> Pending | None:
        """The confirm button: what to confirm (None if there is nothing, or it is under way)."""
        if self.screen != CONFIRM or self.pending is None or self.submitting:
            return None
        self.submitting = True
        self.auto_ready = False
        self._settle(self.pending, now)
        self._screen_until = None   # no timeout while the punch is written
        return self.pending

    def confirmed(self, result, now: float) -> None:
        card = self.pending.card if self.pending else None
        self.submitting = False
        self._show(Outcome(SUCCESS if result.recorded else ALREADY, card, result), now)

    def confirm_failed(self, detail: str, now: float) -> None:
        card = self.pending.card if self.pending else None
        if card is not None:   # not clocked in: they may try again at once
            self._held.pop(card.staff_id, None)
            self._quiet.pop(card.staff_id, None)
        self.submitting = False
        self._show(Outcome(ERROR, card, None, detail), now)

    def tap_not_me(self, now: float) -> None:
        if self.screen != CONFIRM or self.pending is None or self.submitting:
            return
        self._not_me.add((self.pending.track_id, self.pending.card.staff_id))
        self._settle(self.pending, now)
        self.pending = None
        self._go(LIVE, now)

    def _auto_check(self, view, now: float) -> None:
        """Auto punch: ready once the card's track named its person closely enough on every result
        for `hold_s` (a weaker match waits for a tap, as in tap mode)."""
        if view.recognition.similarity < self.auto.min_similarity:
            self._auto_since = None
        elif self._auto_since is None:
            self._auto_since = now
        self.auto_ready = self._auto_since is not None and now - self._auto_since >= self.auto.hold_s

    @property
    def withdrawn(self) -> int:
        return len(self.withdrawals)

    def withdraw(self, now: float, why: str = "") -> None:
        """Take the card back unanswered: its face changed or left (it may be offered again to that face)."""
        if self.screen != CONFIRM or self.pending is None or self.submitting:
            return
        self.withdrawals.append(why)
        self.pending = None
        self.auto_ready = False
        self._go(LIVE, now)

    def liveness_failed(self, now: float, track_id: int | None = None) -> None:
        """For the anti-spoofing check (issue 9): the face in view is not a live person."""
        if track_id is not None:
            self._settled.add(track_id)
        self._show(Outcome(LIVENESS), now)

    def wake(self, now: float) -> None:
        """A tap on the idle clock."""
        if self.screen == IDLE:
            self._last_activity = now
            self._go(LIVE, now)

    def forget(self) -> None:
        """Forget who was asked already (a new round: the bench, or leaving the admin screens)."""
        self._settled.clear()
        self._told_unknown.clear()
        self._not_me.clear()
        self._quiet.clear()
        self._held.clear()

    def resume(self, now: float) -> None:
        """Back from the admin screens: the live view (or no camera), nothing pending."""
        self.submitting = False
        self._back_to_live(now)

    def dismiss(self, now: float) -> None:
        """A tap on a result: back to the live view at once."""
        if self.screen == RESULT:
            self._back_to_live(now)

    def tick(self, now: float) -> None:
        if self._last_activity is None:
            self._last_activity = now
        if self._screen_until is not None and now >= self._screen_until:
            if self.screen == CONFIRM and self.pending is not None:
                self._settle(self.pending, now)   # the card timed out: not again for this face
            self._back_to_live(now)
        if self._present:
            self._last_activity = now
        if self.screen == LIVE:
            nobody = self._present is False if self.have_sensor and self._present is not None else True
            if nobody and now - self._last_activity >= self.times.idle_s:
                self._go(IDLE, now)

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _advice(nearest) -> str | None:
        """The hint for this frame (a key of app/kiosk/texts.py: kiosk's own, quality.* or liveness.*)."""
        if nearest is None:
            return "look"                    # nobody in view: tell a first-time visitor what to do
        if nearest.liveness is not None and nearest.liveness.state == "spoof":
            return "liveness_retry"          # refused (for this track): the next step, until this face is gone
        if not nearest.quality.ok:
            return f"quality.{nearest.quality.reason}"
        if nearest.liveness is not None and not nearest.live and nearest.liveness.message():
            r = nearest.liveness
            return f"liveness.{r.reason}" if has(f"liveness.{r.reason}") else f"liveness.{r.state}"
        return None

    def _settle(self, pending: Pending, now: float) -> None:
        self._settled.add(pending.track_id)
        self._quiet[pending.card.staff_id] = now + self.times.quiet_s
        self._held[pending.card.staff_id] = now
        self._seen[pending.card.staff_id] = now

    def _visits(self, tracks, now: float) -> None:
        """End the visits of people not recognised on any face for `away_s`; note who is in view."""
        for staff, since in list(self._held.items()):
            gone = now - self._seen.get(staff, since) >= self.times.away_s
            again = self.times.again_s is not None and now - since >= self.times.again_s
            if gone or again:
                del self._held[staff]
        for t in tracks:
            if t.recognition is not None and t.recognition.staff_id is not None:
                self._seen[t.recognition.staff_id] = now
        self._seen = {k: v for k, v in self._seen.items() if now - v < self.times.away_s or k in self._held}

    def _show(self, outcome: Outcome, now: float) -> None:
        self.outcome = outcome
        self._go(RESULT, now, until=now + self.times.result_s)

    def _back_to_live(self, now: float) -> None:
        self.pending, self.outcome = None, None
        self.auto_ready = False
        self._last_activity = now
        self._go(LIVE if self._camera_ok else NO_CAMERA, now)

    def _go(self, screen: str, now: float, until: float | None = None) -> None:
        self.screen = screen
        self._screen_until = until
        self.changes += 1

    @property
    def deadline(self) -> float | None:
        return self._screen_until

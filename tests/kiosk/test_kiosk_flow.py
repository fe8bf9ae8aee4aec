"""The clock-in flow as a state machine: vision results, presence, taps and time, no window."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import numpy as np

from app.kiosk import flow as F
from app.vision.decision import Recognition
from app.vision.liveness.decision import LivenessResult
from app.vision.pipeline import TrackView
from app.vision.quality import Quality

TIMES = F.FlowTimes(confirm_s=8, result_s=4, unknown_s=2, idle_s=30, quiet_s=10)
CARD = F.StaffCard(7, "E007", "张三")


def quality(reason=None):
    return Quality(reason is None, reason, 1.0, 150, True, 0, 0.8, 0, 120, 40, 100)


def track(track_id=1, staff_id=7, reason="accepted", q=None, width=150, liveness=None):
    rec = None if reason is None else Recognition(staff_id if reason == "accepted" else None, staff_id, 0.97,
                                                  0.1, 2, 2, reason)
    return TrackView(track_id, (100, 100, 100 + width, 100 + width), np.zeros((5, 2), np.float32),
                     q or quality(), rec, True, 0, liveness)


def update(*tracks):
    return F.VisionUpdate(SimpleNamespace(tracks=list(tracks)), {7: CARD, 8: F.StaffCard(8, "E008", "李四")})


def result(recorded=True):
    return SimpleNamespace(recorded=recorded)


@pytest.fixture
def flow():
    f = F.ClockInFlow(TIMES)
    f.tick(0.0)
    return f


def test_a_known_face_gets_the_card_and_a_tap_confirms(flow):
    flow.vision(update(track()), 1.0)
    assert flow.screen == F.CONFIRM and flow.pending.card == CARD and flow.deadline == 9.0
    pending = flow.tap_confirm(2.0)
    assert pending.card == CARD and flow.tap_confirm(2.1) is None   # a second tap does nothing
    flow.tick(20.0)
    assert flow.screen == F.CONFIRM, "no timeout while the punch is being written"
    flow.confirmed(result(), 20.1)
    assert flow.screen == F.RESULT and flow.outcome.kind == F.SUCCESS
    flow.tick(24.2)
    assert flow.screen == F.LIVE
    flow.vision(update(track()), 24.3)
    assert flow.screen == F.LIVE, "the same face is not asked twice"


def test_already_clocked_in_and_failure(flow):
    flow.vision(update(track()), 1.0)
    flow.tap_confirm(1.5)
    flow.confirmed(result(recorded=False), 1.6)
    assert flow.outcome.kind == F.ALREADY
    flow.dismiss(2.0)
    assert flow.screen == F.LIVE
    flow.vision(update(track(track_id=2, staff_id=8)), 3.0)
    flow.tap_confirm(3.1)
    flow.confirm_failed("disk full", 3.2)
    assert flow.outcome.kind == F.ERROR and flow.outcome.detail == "disk full"


def test_not_me_and_timeout_keep_that_person_quiet_for_a_while(flow):
    flow.vision(update(track()), 1.0)
    flow.tap_not_me(2.0)
    assert flow.screen == F.LIVE and flow.pending is None
    flow.vision(update(track(track_id=5)), 3.0)       # tracking lost and found the same face
    assert flow.screen == F.LIVE
    flow.vision(update(track(track_id=5)), 12.5)      # quiet time over: asked again
    assert flow.screen == F.CONFIRM
    flow.tick(12.5 + TIMES.confirm_s)
    assert flow.screen == F.LIVE
    flow.vision(update(track(track_id=6)), 21.0)
    assert flow.screen == F.LIVE


def test_the_nearest_known_face_is_asked_first(flow):
    flow.vision(update(track(1, 7, width=120), track(2, 8, width=200)), 1.0)
    assert flow.pending.card.staff_id == 8


def test_unknown_after_a_while_and_quality_hints(flow):
    flow.vision(update(track(q=quality("too_small"), reason=None)), 1.0)
    assert flow.hint == "too_small" and flow.screen == F.LIVE
    flow.vision(update(track(reason="below_threshold")), 2.0)
    assert flow.hint is None and flow.screen == F.LIVE
    flow.vision(update(track(reason="below_threshold")), 3.9)
    assert flow.screen == F.LIVE
    flow.vision(update(track(reason="below_threshold")), 4.1)
    assert flow.screen == F.RESULT and flow.outcome.kind == F.UNKNOWN
    flow.tick(8.2)
    flow.vision(update(track(reason="below_threshold")), 8.3)
    assert flow.screen == F.LIVE, "told once per face"
    flow.vision(update(track()), 9.0)   # a better view recognises the face after all
    assert flow.screen == F.CONFIRM


def test_idle_and_wake_with_a_sensor():
    flow = F.ClockInFlow(TIMES, have_sensor=True)
    flow.tick(0.0)
    flow.presence(True, 1.0)
    flow.tick(40.0)
    assert flow.screen == F.LIVE, "someone is near: no idle"
    flow.presence(False, 41.0)
    flow.tick(60.0)
    assert flow.screen == F.LIVE
    flow.tick(71.5)
    assert flow.screen == F.IDLE
    flow.presence(True, 72.0)
    assert flow.screen == F.LIVE


def test_idle_without_a_sensor_wakes_on_a_face_or_a_tap(flow):
    flow.tick(31.0)
    assert flow.screen == F.IDLE
    flow.vision(update(track(reason=None)), 32.0)
    assert flow.screen == F.LIVE
    flow.tick(63.0)
    flow.wake(64.0)
    assert flow.screen == F.LIVE


def test_no_camera_and_back(flow):
    flow.camera(False, 1.0)
    assert flow.screen == F.NO_CAMERA
    flow.vision(update(track()), 1.5)
    assert flow.screen == F.NO_CAMERA
    flow.camera(True, 2.0)
    assert flow.screen == F.LIVE
    flow.vision(update(track()), 2.5)
    assert flow.screen == F.CONFIRM
    flow.camera(False, 3.0)
    assert flow.screen == F.CONFIRM, "a card already shown is finished first"
    flow.tap_not_me(3.5)
    assert flow.screen == F.LIVE   # then the next camera check moves to no camera
    flow.camera(False, 4.0)
    assert flow.screen == F.NO_CAMERA


def test_liveness_failure_is_a_result(flow):
    flow.liveness_failed(1.0, track_id=3)
    assert flow.screen == F.RESULT and flow.outcome.kind == F.LIVENESS


def test_no_card_until_the_face_passed_liveness(flow):
    checking = LivenessResult("checking", "waiting", 1)
    flow.vision(update(track(liveness=checking)), 1.0)
    assert flow.screen == F.LIVE and flow.pending is None
    flow.vision(update(track(liveness=LivenessResult("live", "size_fits", 3))), 1.2)
    assert flow.screen == F.CONFIRM and flow.pending.card == CARD


def test_a_refused_face_gets_the_liveness_result_once_and_no_card(flow):
    spoof = LivenessResult("spoof", "scale", 3)
    flow.vision(update(track(track_id=5, liveness=spoof)), 1.0)
    assert flow.screen == F.RESULT and flow.outcome.kind == F.LIVENESS and flow.pending is None
    assert flow.tap_confirm(1.1) is None
    flow.tick(6.0)                                   # the result times out
    flow.vision(update(track(track_id=5, liveness=spoof)), 6.1)
    assert flow.screen == F.LIVE                     # the same track is not refused again and again


def test_a_liveness_request_is_the_live_view_hint(flow):
    challenge = LivenessResult("challenge", "challenge", 4)
    flow.vision(update(track(liveness=challenge)), 1.0)
    assert flow.screen == F.LIVE and flow.hint is None
    assert flow.liveness_hint is challenge and challenge.message("zh_CN") == "请缓慢转头"
    flow.vision(update(track(liveness=LivenessResult("live", "size_fits", 5))), 1.2)
    assert flow.liveness_hint is None


def test_every_font_size_of_the_screens_is_warmed_up():
    import re
    from pathlib import Path

    import app.kiosk as kiosk

    sizes = set()
    for kv in (Path(kiosk.__file__).parent / "screens").glob("*.kv"):
        sizes |= {int(v) for v in re.findall(r"font_size: (\d+)", kv.read_text(encoding="utf-8"))}
    source = (Path(kiosk.__file__).parent / "app.py").read_text(encoding="utf-8")
    warmed = {int(v) for v in re.search(r"FONT_SIZES = \(([\d, ]+)\)", source).group(1).split(",")}
    assert sizes <= warmed, f"font sizes not opened at start: {sorted(sizes - warmed)}"


# --- a card is for the face under its track, now (issue 23) ------------------------------------------


def test_a_card_is_withdrawn_when_the_next_person_steps_into_the_spot(flow):
    flow.vision(update(track(1, 7)), 1.0)
    assert flow.screen == F.CONFIRM and flow.pending.card.staff_id == 7
    # the pipeline gives the next face under the box a new track: 李四 (8) is recognised there
    flow.vision(update(track(2, 8)), 1.3)
    assert flow.screen == F.CONFIRM and flow.pending.card.staff_id == 8 and flow.pending.track_id == 2
    assert flow.withdrawn == 1
    pending = flow.tap_confirm(1.5)
    assert pending.card.staff_id == 8, "a tap confirms the person in front now, never the one before"


def test_a_card_is_withdrawn_when_its_face_is_not_recognised_for_a_second(flow):
    flow.vision(update(track(1, 7)), 1.0)
    assert flow.screen == F.CONFIRM
    # the same track (the same face, by its look) names nobody for a moment: a missed detection pass
    flow.vision(update(track(1, 7, reason=None)), 1.1)
    flow.vision(update(track(1, 7)), 1.5)
    assert flow.screen == F.CONFIRM and flow.withdrawn == 0
    flow.vision(update(track(1, 7, reason=None)), 2.0)
    flow.vision(update(track(1, 7, reason=None)), 2.9)
    assert flow.screen == F.CONFIRM
    flow.vision(update(track(1, 7, reason=None)), 3.0)   # unconfirmed for unconfirmed_s: taken back
    assert flow.screen == F.LIVE and flow.pending is None and flow.tap_confirm(3.1) is None
    flow.vision(update(track(3, 7, reason="below_threshold")), 3.3)   # an unknown face there
    assert flow.screen == F.LIVE
    flow.vision(update(track(1, 7)), 3.4)                # the same face named again: asked again
    assert flow.screen == F.CONFIRM and flow.pending.card.staff_id == 7


def test_a_slow_boards_two_results_naming_nobody_do_not_take_the_card(flow):
    """A busy board processes a frame a second: two results of a re-check span the second, but the
    same track (the same face) keeps its card until a third says nobody too."""
    flow.vision(update(track(1, 7)), 1.0)
    flow.vision(update(track(1, 7, reason=None)), 2.0)
    flow.vision(update(track(1, 7, reason=None)), 3.2)
    assert flow.screen == F.CONFIRM and flow.withdrawn == 0
    flow.vision(update(track(1, 7)), 4.1)                # named again: the count starts over
    flow.vision(update(track(1, 7, reason=None)), 5.0)
    flow.vision(update(track(1, 7, reason=None)), 6.5)
    assert flow.screen == F.CONFIRM and flow.withdrawn == 0
    flow.vision(update(track(1, 7, reason=None)), 7.4)
    assert flow.screen == F.LIVE and flow.withdrawn == 1 and flow.withdrawals == ["names nobody"]


def test_a_card_is_withdrawn_at_once_when_its_track_names_someone_else(flow):
    flow.vision(update(track(1, 7)), 1.0)
    flow.vision(update(track(1, 8)), 1.1)
    assert flow.withdrawn == 1 and flow.pending.card.staff_id == 8


def test_a_card_is_withdrawn_at_once_when_its_face_is_refused_by_liveness(flow):
    flow.vision(update(track(1, 7)), 1.0)
    flow.vision(update(track(1, 7, reason=None, liveness=LivenessResult("spoof", "scale", 9))), 1.1)
    assert flow.withdrawn == 1 and flow.pending is None


def test_a_card_is_withdrawn_when_its_face_leaves(flow):
    flow.vision(update(track(1, 7)), 1.0)
    flow.vision(update(), 1.2)
    assert flow.screen == F.LIVE and flow.pending is None and flow.withdrawn == 1
    assert flow.tap_confirm(1.3) is None


def test_a_card_being_confirmed_is_not_withdrawn(flow):
    flow.vision(update(track(1, 7)), 1.0)
    assert flow.tap_confirm(1.1).card.staff_id == 7
    flow.vision(update(), 1.2)                           # the person stepped away after tapping
    assert flow.screen == F.CONFIRM and flow.withdrawn == 0
    flow.confirmed(result(), 1.3)
    assert flow.outcome.kind == F.SUCCESS and flow.outcome.card.staff_id == 7


# --- a walk-up that does not waste taps (issue 23, section 2) -----------------------------------------


def stay(flow, start, end, step=0.5, **kw):
    """The person stays in view from `start` to `end`, their track renewed every 4 s; the screens seen."""
    screens, t = set(), start
    while t <= end:
        flow.vision(update(track(track_id=100 + int(t // 4), **kw)), t)
        flow.tick(t)
        screens.add(flow.screen)
        t += step
    return screens


def test_after_clocking_in_the_person_is_not_asked_again_until_they_leave(flow):
    flow.vision(update(track(1)), 1.0)
    flow.tap_confirm(1.2)
    flow.confirmed(result(), 1.3)
    assert flow.outcome.kind == F.SUCCESS
    assert stay(flow, 1.5, 60.0) == {F.RESULT, F.LIVE}, "asked again while still in view"
    flow.vision(update(), 61.0)                       # left: no face recognised as them for away_s
    flow.tick(65.0)
    flow.vision(update(track(200)), 65.0)             # came back
    assert flow.screen == F.CONFIRM


def test_with_a_repeat_window_a_person_who_stays_is_asked_again_after_it():
    flow = F.ClockInFlow(F.FlowTimes(confirm_s=8, result_s=4, quiet_s=10, again_s=30.0))
    flow.tick(0.0)
    flow.vision(update(track(1)), 1.0)
    flow.tap_confirm(1.2)
    flow.confirmed(result(), 1.3)
    assert F.CONFIRM not in stay(flow, 1.5, 30.5)
    flow.vision(update(track(300)), 31.5)
    assert flow.screen == F.CONFIRM


def test_not_me_holds_for_that_face_until_it_leaves(flow):
    flow.vision(update(track(1)), 1.0)
    flow.tap_not_me(2.0)
    assert stay(flow, 2.5, 40.0) == {F.LIVE}, "'not me' asked again for the same face"
    flow.tick(45.0)                                   # gone for 5 s
    flow.vision(update(track(400)), 45.0)
    assert flow.screen == F.CONFIRM


def test_a_failed_clock_in_may_be_tried_again_at_once(flow):
    flow.vision(update(track(1)), 1.0)
    flow.tap_confirm(1.1)
    flow.confirm_failed("disk full", 1.2)
    flow.dismiss(1.5)
    flow.vision(update(track(2)), 1.6)
    assert flow.screen == F.CONFIRM


def feed(flow, start, end, make, step=0.1):
    """Vision updates from `start` to `end`; the hint bar's texts seen (after `start` + settle)."""
    shown, t, k = [], start, 0
    while t <= end + 1e-9:
        flow.vision(make(k), t)
        shown.append(flow.prompt.text())
        t, k = t + step, k + 1
    return shown


def test_nobody_in_view_is_asked_to_look_at_the_camera(flow):
    shown = feed(flow, 1.0, 2.0, lambda k: update())
    assert shown[0] == "" and shown[-1] == "请看摄像头"
    assert flow.prompt.text("en") == "Please look at the camera"


def test_hints_do_not_flicker_with_the_quality_figures(flow):
    reasons = ["not_frontal", "too_small", "too_dark", None]
    flicker = feed(flow, 1.0, 3.0, lambda k: update(track(q=quality(reasons[k % 4]), reason=None)))
    assert set(flicker) == {""}, "a hint changing every 0.1 s is shown"
    steady = feed(flow, 3.1, 4.0, lambda k: update(track(q=quality("not_frontal"), reason=None)))
    assert steady[-1] == "请正对摄像头" and steady[0] == ""
    # a shown hint stays at least HOLD_S, even when the advice changes at once
    after = feed(flow, 4.1, 5.8, lambda k: update(track(q=quality("too_dark"), reason=None)))
    held = after[:int((F.HOLD_S - (4.1 - 3.7)) / 0.1)]
    assert set(held) == {"请正对摄像头"} and after[-1] == "光线不足"


def test_after_a_liveness_refusal_the_next_step_shows_until_the_face_changes(flow):
    spoof = LivenessResult("spoof", "challenge_timeout", 30)
    feed(flow, 1.0, 1.0, lambda k: update(track(track_id=5, liveness=spoof)))
    assert flow.screen == F.RESULT and flow.outcome.kind == F.LIVENESS
    flow.tick(6.0)
    shown = feed(flow, 6.0, 9.0, lambda k: update(track(track_id=5, liveness=spoof)))
    assert shown[-1] == "请离开后重试，或联系管理员"
    checking = LivenessResult("checking", "waiting", 1)
    shown = feed(flow, 9.1, 11.0, lambda k: update(track(track_id=6, liveness=checking)))   # another face
    assert shown[-1] == ""


# --- auto punch (off by default) ---------------------------------------------------------------------------


def _with_similarity(view, similarity):
    from dataclasses import replace

    return replace(view, recognition=replace(view.recognition, similarity=similarity))


def auto_flow():
    f = F.ClockInFlow(TIMES, auto=F.AutoPunch(min_similarity=0.96, hold_s=0.5))
    f.tick(0.0)
    return f


def test_auto_punch_clocks_in_once_the_same_face_held_its_match():
    flow = auto_flow()
    ready_at = None
    for k in range(10):
        now = 1.0 + 0.1 * k
        flow.vision(update(_with_similarity(track(1, 7), 0.97)), now)
        if flow.auto_ready and ready_at is None:
            ready_at = now
    assert flow.screen == F.CONFIRM and ready_at == pytest.approx(1.5)
    assert flow.tap_confirm(ready_at).card.staff_id == 7 and not flow.auto_ready


def test_auto_punch_needs_the_stricter_match_else_waits_for_a_tap():
    flow = auto_flow()
    for k in range(20):
        flow.vision(update(_with_similarity(track(1, 7), 0.955)), 1.0 + 0.1 * k)
        assert not flow.auto_ready
    assert flow.screen == F.CONFIRM


def test_auto_punch_never_clocks_in_the_previous_person_on_the_next_face():
    flow = auto_flow()
    for k in range(4):                                            # A for 0.3 s: not yet
        flow.vision(update(_with_similarity(track(1, 7), 0.97)), 1.0 + 0.1 * k)
    assert flow.pending.card.staff_id == 7 and not flow.auto_ready
    ready = []
    for k in range(8):                                            # B stepped into the spot
        flow.vision(update(_with_similarity(track(2, 8), 0.97)), 1.4 + 0.1 * k)
        if flow.auto_ready:
            ready.append(flow.pending.card.staff_id)
    assert flow.withdrawn == 1 and ready and set(ready) == {8}

"""The punch state on the confirm card (issue 18): 上班 by default, a tap chooses the next; the chosen
state is stored with the punch and is the status of its ZKTeco ATTLOG line."""

from __future__ import annotations

from sqlalchemy import select

from tests.helpers.kiosk_window import configure

configure()


def test_the_chosen_state_is_stored_and_sent_as_the_attlog_status(terminal_for, photos, kiosk_for, scene):
    from app.store import Punch
    from app.zk.adms.data import AdmsData

    terminal = terminal_for(scene(photos["obama2.jpg"]))
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "confirm", what="the confirm card")
    state = kiosk.widget("confirm", "punch_state")
    assert state.text == "上班" and state.height >= 48 and state.right <= kiosk.window.width
    kiosk.tap(state)
    kiosk.tap(state)
    kiosk.pump_until(lambda: state.text == "外出", timeout=5, what="the second state")
    kiosk.tap(kiosk.widget("confirm", "confirm"))
    kiosk.pump_until(lambda: kiosk.screen == "result", timeout=5, what="the result")
    assert kiosk.app.screens["result"].kind == "success"
    terminal.attendance.flusher.flush()
    with terminal.store.session() as s:
        assert s.execute(select(Punch.staff_no, Punch.status)).all() == [("E001", 2)]
    line = AdmsData(terminal.store, lambda: "Asia/Shanghai").punches_after(0, 10).lines[0]
    assert line.split("\t")[2:4] == ["2", "15"]
    # round and round: six states, then 上班 again
    for _ in range(4):
        kiosk.app.next_punch_status()
    assert kiosk.app.punch_status == 0

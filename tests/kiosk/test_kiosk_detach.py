"""An app taken off the window leaves nothing running on it: tests open one app after another on
the process's one window and Kivy clock, and a vision result handed over by the worker thread
while the app was being detached re-armed its trigger after the cancel, which then ran in the next
test's frames against a stopped terminal ("cannot schedule new futures after shutdown"), and the
half-built app of that test kept its clock events for the rest of the session."""

from __future__ import annotations

from tests.helpers.kiosk_window import configure

configure()


def test_a_result_handed_over_during_the_detach_does_nothing_afterwards(terminal_for, kiosk_for):
    terminal = terminal_for("test://?width=640&height=480&fps=15")
    listeners = len(terminal._listeners)
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.app.latest_update is not None, what="a vision result")
    late = kiosk.app.latest_update
    assert len(terminal._listeners) == listeners + 1
    kiosk.close()
    assert len(terminal._listeners) == listeners          # the worker no longer calls this app
    app = kiosk.app
    app.latest_update = None
    app._vision_from_worker(late)     # the call that was already under way on the vision thread
    app._settings_from_store(None)
    kiosk.pump(3)
    assert app.latest_update is None

"""The idle screen shows the admin's first-run setup code, and stops showing it once spent."""

from __future__ import annotations

from tests.helpers.kiosk_window import FAST, assert_not_blank, configure

configure()


def test_the_idle_screen_shows_the_setup_code_until_an_account_exists(terminal_for, kiosk_for):
    from admin.auth.users import create_user
    from app.setup_code import discard, ensure_setup_code

    terminal = terminal_for("test://?width=640&height=480&fps=15", sensor_port="sim://", sensor={"enabled": True})
    terminal.sensor.simulator.fixed_mm = 2500          # nobody near
    code = ensure_setup_code(terminal.store, terminal.instance)
    kiosk = kiosk_for(terminal)
    kiosk.pump_until(lambda: kiosk.screen == "idle", timeout=FAST.idle_s + 5, what="the idle clock")
    label = kiosk.widget("idle", "setup_code")
    kiosk.pump_until(lambda: code in label.text, timeout=10, what="the setup code")
    assert label.text == f"管理后台设置码 {code}" and label.opacity == 1
    assert_not_blank(kiosk.screenshot("idle-setup-code"), "idle clock with the setup code")
    create_user(terminal.store, "admin", "a good password", "admin", actor="test")
    discard(terminal.instance)                         # what /setup does once the account is made
    kiosk.pump_until(lambda: label.text == "", timeout=20, what="the code to go")
    assert label.opacity == 0

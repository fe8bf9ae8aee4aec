"""The one module of self-checks (app/services/selfcheck.py): outputs exercised on mock pins,
the disk check on a real small tmpfs, and each command's own view of the same checks."""

from __future__ import annotations


import pytest

from app.services import selfcheck
from app.services.selfcheck import FAILED, OK, SKIPPED

MOCK_PINS = {"enabled": True, "pin_factory": "mock", "relay_pin": 17, "buzzer_pin": 18,
             "led_green_pin": 22, "led_red_pin": 23}


@pytest.fixture
def gpio(make_config):
    from app.hardware.gpio import TerminalGpio, make_pin_factory

    cfg = make_config(gpio=MOCK_PINS).gpio
    factory = make_pin_factory("mock")
    terminal_gpio = TerminalGpio(cfg, factory)
    yield terminal_gpio, cfg, factory
    terminal_gpio.close()


def _energised(factory, pin: int) -> int:
    return sum(1 for s in factory.pin(pin).states if s.state)


def test_the_hw_test_uses_every_output_once_and_waits_for_it(gpio):
    terminal_gpio, cfg, factory = gpio
    checks = selfcheck.gpio_outputs(terminal_gpio, cfg)
    assert [(c.name, c.result) for c in checks] == [("buzzer", OK), ("relay", OK), ("leds", OK)]
    assert checks[1].detail == f"clicked pin 17 (active high) for {cfg.relay_pulse_ms} ms"
    for pin in (17, 18, 22, 23):
        assert _energised(factory, pin) >= 1, pin
    assert not terminal_gpio.relay.is_open   # waited: the click is over when the check returns


def test_an_output_that_fails_is_reported_and_the_others_still_run(gpio):
    """On the device (one line for the outputs) a broken relay is a failed check naming it, not an
    error that hides the other parts' results."""
    terminal_gpio, cfg, factory = gpio
    terminal_gpio.relay.device.close()   # the relay's pin is gone: using it raises
    check = selfcheck.outputs_running(terminal_gpio, cfg)
    assert check.name == "gpio" and check.result == FAILED and not check.ok
    assert check.detail.startswith("relay: ")
    assert _energised(factory, 18) >= 1 and _energised(factory, 22) >= 1   # buzzer and LEDs still used


def test_outputs_not_wired_are_skipped_not_failed(make_config):
    from app.hardware.gpio import TerminalGpio, make_pin_factory

    cfg = make_config(gpio={**MOCK_PINS, "led_green_pin": -1, "led_red_pin": -1}).gpio
    terminal_gpio = TerminalGpio(cfg, make_pin_factory("mock"))
    try:
        checks = {c.name: c for c in selfcheck.gpio_outputs(terminal_gpio, cfg, wait=False)}
        assert checks["leds"].result == SKIPPED and checks["leds"].ok
        assert selfcheck.outputs_running(terminal_gpio, cfg).result == OK
    finally:
        terminal_gpio.close()
    disabled = TerminalGpio(make_config(gpio={"enabled": False}).gpio)
    row = selfcheck.outputs_running(disabled, None)
    assert row.result == SKIPPED and "enabled = false" in row.detail


def test_the_disk_check_fails_below_the_low_mark(tmpfs):
    low = selfcheck.disk_free(tmpfs)
    assert low.result == FAILED and low.detail == "0.0 GB free" and low.facts["free_bytes"] <= 3 << 20
    assert selfcheck.disk_free(tmpfs, low_bytes=1 << 20).result == OK
    assert selfcheck.disk_free(tmpfs / "missing").result == FAILED


def test_each_command_has_its_own_view_of_a_check():
    check = selfcheck.Check("camera", FAILED, "no frames", {"source": "v4l2:///dev/video9"})
    assert check.as_device() == {"device": "camera", "source": "v4l2:///dev/video9", "result": "failed",
                                 "detail": "no frames"}
    assert check.as_section() == {"ok": False, "source": "v4l2:///dev/video9"}
    report = selfcheck.doctor_report([check, selfcheck.Check("models", OK), selfcheck.Check("font", OK)])
    assert report["ok"] is False   # issue 25: no working camera is a problem the doctor reports
    report = selfcheck.doctor_report([selfcheck.Check("camera", OK), selfcheck.Check("models", OK),
                                      selfcheck.Check("set_time", FAILED)])
    assert report["ok"] is True   # the clock helper is reported (with what to do), not required
    report = selfcheck.doctor_report([selfcheck.Check("models", FAILED, facts={"error": "missing"})])
    assert report["ok"] is False and "!! models" in selfcheck.format_doctor(report)


# -- the doctor's checks: each one not right says what to do ------------------------------------------

def test_the_admin_account_check_counts_active_administrators(store, instance, database_url):
    from app.store import AdminUser

    url = database_url or ""
    empty = selfcheck.admin_account(url, instance.root)
    assert empty.result == FAILED and "no administrator" in empty.detail
    assert "create-user" in empty.facts["todo"]
    with store.session() as s:
        s.add(AdminUser(username="viewer1", password_hash="x", role="viewer"))
        s.add(AdminUser(username="gone", password_hash="x", role="admin", active=False))
    assert selfcheck.admin_account(url, instance.root).result == FAILED   # no ACTIVE admin yet
    with store.session() as s:
        s.add(AdminUser(username="boss", password_hash="x", role="admin"))
    found = selfcheck.admin_account(url, instance.root)
    assert found.result == OK and found.facts["admins"] == 1


def test_no_database_yet_means_no_administrator_and_nothing_is_created(tmp_path):
    check = selfcheck.admin_account("", tmp_path)
    assert check.result == FAILED and "daka run" in check.facts["todo"]
    assert list(tmp_path.iterdir()) == []


def _script(path, body: str):
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_the_set_time_helper_check_finds_the_helper_and_asks_sudo_about_the_rule(tmp_path):
    missing = selfcheck.set_time_helper(f"sudo -n {tmp_path}/daka-set-time")
    assert missing.result == FAILED and "not installed" in missing.detail
    assert "--only sudoers" in missing.facts["todo"]
    helper = _script(tmp_path / "daka-set-time", "exit 0")
    assert selfcheck.set_time_helper(str(helper)).result == OK   # no sudo in the command: nothing to ask
    nosudo = selfcheck.set_time_helper(f"sudo -n {helper}", sudo=str(tmp_path / "no-sudo"))
    assert nosudo.result == FAILED and "sudo is not installed" in nosudo.detail


@pytest.mark.skipif(not selfcheck.shutil.which("sudo"), reason="needs sudo")
def test_a_user_without_the_sudo_rule_is_told_to_install_it(tmp_path):
    """The real sudo, asked about `nobody` (who has no rule), refuses: the check fails and says what to do."""
    import os

    if os.geteuid() != 0:
        pytest.skip("only root may ask sudo about another user")
    helper = _script(tmp_path / "daka-set-time", "exit 0")
    check = selfcheck.set_time_helper(f"sudo -n {helper}", user="nobody")
    assert check.result == FAILED and "nobody" in check.detail and "without a password" in check.detail
    assert check.facts["sudo_rule"] is False and "sudoers" in check.facts["todo"]
    assert selfcheck.set_time_helper(f"sudo -n {helper}", user="root").result == OK


def test_clock_sync_reads_timedatectl_then_chrony_and_says_unknown_without_either(tmp_path):
    absent = selfcheck.clock_sync(timedatectl=str(tmp_path / "none1"), chronyc=str(tmp_path / "none2"))
    assert absent.result == FAILED and absent.detail.startswith("unknown")
    assert "systemd-timesyncd" in absent.facts["todo"] and absent.facts["synchronized"] is None
    # the tools' own output formats (timedatectl show -p ..., chronyc tracking)
    synced = _script(tmp_path / "td-synced", 'printf "NTP=yes\\nNTPSynchronized=yes\\n"')
    assert selfcheck.clock_sync(timedatectl=str(synced)).result == OK
    off = _script(tmp_path / "td-off", 'printf "NTP=no\\nNTPSynchronized=no\\n"')
    check = selfcheck.clock_sync(timedatectl=str(off))
    assert check.result == FAILED and "off" in check.detail and "set-ntp true" in check.facts["todo"]
    no_systemd = _script(tmp_path / "td-down", 'echo "System has not been booted with systemd" >&2; exit 1')
    chrony = _script(tmp_path / "chronyc", 'printf "Reference ID    : 0A000001\\nLeap status     : Not synchronised\\n"')
    check = selfcheck.clock_sync(timedatectl=str(no_systemd), chronyc=str(chrony))
    assert check.result == FAILED and check.facts["tool"] == "chronyc" and "Not synchronised" in check.detail
    assert check.facts["todo"]


def test_the_camera_check_fails_only_when_the_terminal_would_have_no_camera(tmp_path):
    none = selfcheck.camera_devices("none")
    assert none.result == OK
    gone = selfcheck.camera_devices(f"file://{tmp_path}/clip.mp4")
    assert gone.result == FAILED and "does not exist" in gone.detail and gone.facts["todo"]
    (tmp_path / "clip.mp4").write_bytes(b"x")
    assert selfcheck.camera_devices(f"file://{tmp_path}/clip.mp4").result == OK

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
    assert report["ok"] is True   # the camera is not required by the doctor
    report = selfcheck.doctor_report([selfcheck.Check("models", FAILED, facts={"error": "missing"})])
    assert report["ok"] is False and "!! models" in selfcheck.format_doctor(report)

"""GPIO devices on gpiozero's MockFactory: the pin state sequences they produce."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from app.config import GpioConfig
from app.hardware.gpio import BEEPS, TerminalGpio

RELAY, BUZZER, GREEN, RED, BUTTON = 17, 18, 22, 23, 27


def cfg(**changes) -> GpioConfig:
    pins = dict(relay_pin=RELAY, buzzer_pin=BUZZER, led_green_pin=GREEN, led_red_pin=RED,
                exit_button_pin=BUTTON, relay_pulse_ms=150)
    return dataclasses.replace(GpioConfig(), **{**pins, **changes})


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.close()


def levels(pin, since: int = 0) -> list[bool]:
    """The pin's level changes (consecutive duplicates merged)."""
    out = []
    for state in pin.states[since:]:
        if not out or out[-1] != bool(state.state):
            out.append(bool(state.state))
    return out


def change_times(pin) -> list[tuple[float, bool]]:
    """(seconds since the pin was created, level) per recorded change (MockPin stores deltas)."""
    t, out = 0.0, []
    for state in pin.states:
        t += state.timestamp
        out.append((t, bool(state.state)))
    return out


def high_spans(pin) -> list[float]:
    """Durations (s) of the pin's high periods."""
    spans, start = [], None
    for t, level in change_times(pin):
        if level and start is None:
            start = t
        elif not level and start is not None:
            spans.append(t - start)
            start = None
    return spans


# Correctness deadline, generous for a loaded CI machine. Pulse and beep lengths are checked from
# below (a thread cannot wait less than asked, however loaded the machine; a few ms are left for
# rounding); from above only loosely, or by a structure where a late thread cannot change the outcome.
DEADLINE_S = 30.0


def wait_until(predicate, timeout: float = DEADLINE_S) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_active_high_relay_pulses_for_the_configured_time(factory):
    # 1200 ms, longer than the 1000 ms default: a lower bound alone tells the configured value was used
    gpio = TerminalGpio(cfg(relay_active_high=True, relay_pulse_ms=1200), pin_factory=factory)
    pin = factory.pin(RELAY)
    assert gpio.enabled and pin.state is False
    assert gpio.open_door() is True
    assert gpio.relay.is_open and pin.state is True
    wait_until(lambda: pin.state is False)
    assert levels(pin) == [False, True, False]
    (span,) = high_spans(pin)
    assert 1.19 <= span <= 10, span
    gpio.close()


def test_active_low_relay_idles_high_and_pulses_low(factory):
    gpio = TerminalGpio(cfg(relay_active_high=False), pin_factory=factory)  # 150 ms configured
    pin = factory.pin(RELAY)
    assert pin.state is True  # idle = de-energised = high for an active-low board
    gpio.open_door(pulse_ms=400)  # this call's own pulse, longer than the configured one
    assert pin.state is False and gpio.relay.is_open
    wait_until(lambda: pin.state is True)
    assert levels(pin)[-3:] == [True, False, True]
    low = [t for t, level in change_times(pin)][-2:]
    assert low[1] - low[0] >= 0.39, low
    gpio.close()


def test_the_door_is_open_when_open_door_returns(factory, monkeypatch):
    """A busy CPU may start the pulse's thread late: the relay must already be energised."""
    import gpiozero.output_devices
    from gpiozero.threads import GPIOThread

    class LateThread(GPIOThread):
        def run(self):
            time.sleep(0.3)
            super().run()

    monkeypatch.setattr(gpiozero.output_devices, "GPIOThread", LateThread)
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    pin = factory.pin(RELAY)
    try:
        gpio.open_door()
        assert pin.state is True and gpio.relay.is_open
        wait_until(lambda: pin.state is False)
        (span,) = high_spans(pin)
        assert span >= 0.44  # the thread's 0.3 s late start, then the 0.15 s it times: never shorter
    finally:
        gpio.close()  # stops the late thread, also when the test failed


def test_opening_again_during_a_pulse_extends_it(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)  # 150 ms
    pin = factory.pin(RELAY)
    # the first pulse is long so that the second open comes during it, however late the test runs
    gpio.open_door(pulse_ms=5000)
    first = time.monotonic()
    time.sleep(0.1)
    second = time.monotonic()
    gpio.open_door()
    wait_until(lambda: not gpio.relay.is_open)
    assert levels(pin) == [False, True, False]  # one pulse: the door never closed in between
    (span,) = high_spans(pin)
    assert span >= second - first + 0.145  # a full pulse from the second open on
    assert span < 5.0  # the second open restarted the pulse (the first alone lasts 5 s)
    gpio.close()


def test_buzzer_error_pattern_is_three_short_beeps(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    pin = factory.pin(BUZZER)
    gpio.beep("error")
    gpio.beeper.player.wait(DEADLINE_S)
    assert levels(pin) == [False, True, False, True, False, True, False]
    spans = high_spans(pin)
    assert len(spans) == 3 and all(0.075 <= s < 1.0 for s in spans), spans
    times = [t for t, _ in change_times(pin)]
    gaps = [b - a for a, b in zip(times[2::2], times[3::2])]  # the low periods between the beeps
    assert len(gaps) == 2 and all(g >= 0.065 for g in gaps), gaps
    gpio.beep("ok")
    gpio.beeper.player.wait(DEADLINE_S)
    assert len(high_spans(pin)) == 4
    assert set(BEEPS) >= {"ok", "error", "attention"}
    gpio.close()


def test_a_new_pattern_cuts_the_current_one(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    pin = factory.pin(BUZZER)
    gpio.beep(((30.0, 0.0),))  # a long tone: still sounding when the next pattern comes, whatever the load
    wait_until(lambda: pin.state is True)
    gpio.beep("ok")
    gpio.beeper.player.wait(DEADLINE_S)
    spans = high_spans(pin)
    assert len(spans) == 2 and spans[0] < 10, spans  # cut, not played out
    assert spans[1] >= 0.075  # the new pattern plays in full
    gpio.close()


def test_status_leds(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    green, red = factory.pin(GREEN), factory.pin(RED)
    gpio.leds.cycle(step_s=0.05)
    assert levels(green) == [False, True, False] and levels(red) == [False, True, False]
    first_high = {name: next(t for t, level in change_times(pin) if level)
                  for name, pin in (("green", green), ("red", red))}
    assert first_high["green"] < first_high["red"]  # green first
    gpio.show("ready")
    assert green.state is True and red.state is False
    before = len(high_spans(red))
    gpio.show("fault")
    assert green.state is False
    wait_until(lambda: len(high_spans(red)) >= before + 2)  # blinking: on, off, on again, off
    blinks = high_spans(red)[before:]
    assert all(b >= 0.49 for b in blinks), blinks
    gpio.show("idle")
    assert red.state is False and green.state is False
    with pytest.raises(ValueError):
        gpio.show("party")
    gpio.close()


def test_exit_button_opens_the_door(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    button, relay = factory.pin(BUTTON), factory.pin(RELAY)
    assert relay.state is False
    button.drive_low()  # pressed (pull-up, switch to ground)
    wait_until(lambda: relay.state is True)
    button.drive_high()
    wait_until(lambda: relay.state is False)
    gpio.close()


def test_an_invalid_pin_disables_only_that_device(factory):
    gpio = TerminalGpio(cfg(buzzer_pin=63), pin_factory=factory)
    assert gpio.enabled and gpio.beeper is None
    assert "63" in gpio.problems["buzzer"] and set(gpio.problems) == {"buzzer"}
    assert gpio.beep() is False and gpio.open_door() is True
    gpio.close()


def test_disabled_in_the_config_is_a_clear_no_op():
    gpio = TerminalGpio(cfg(enabled=False))
    assert not gpio.enabled and "disabled in the configuration" in gpio.reason
    assert gpio.open_door() is False and gpio.beep() is False and gpio.show("ready") is False
    assert gpio.summary()["relay"] is False
    gpio.close()


@pytest.mark.skipif(any(Path("/dev").glob("gpiochip*")), reason="this machine has GPIO")
def test_a_pc_without_gpio_is_disabled_not_a_crash():
    gpio = TerminalGpio(cfg(pin_factory="auto"))
    assert gpio.state == "disabled" and "no GPIO on this machine" in gpio.reason
    assert gpio.open_door() is False
    gpio = TerminalGpio(cfg(pin_factory="lgpio"))
    assert gpio.state == "disabled" and "lgpio" in gpio.reason

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


def wait_until(predicate, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_active_high_relay_pulses_for_the_configured_time(factory):
    gpio = TerminalGpio(cfg(relay_active_high=True), pin_factory=factory)
    pin = factory.pin(RELAY)
    assert gpio.enabled and pin.state is False
    assert gpio.open_door() is True
    assert gpio.relay.is_open and pin.state is True
    wait_until(lambda: pin.state is False)
    assert levels(pin) == [False, True, False]
    (span,) = high_spans(pin)
    assert 0.14 <= span <= 0.4, span
    gpio.close()


def test_active_low_relay_idles_high_and_pulses_low(factory):
    gpio = TerminalGpio(cfg(relay_active_high=False), pin_factory=factory)
    pin = factory.pin(RELAY)
    assert pin.state is True  # idle = de-energised = high for an active-low board
    gpio.open_door(pulse_ms=80)
    assert pin.state is False and gpio.relay.is_open
    wait_until(lambda: pin.state is True)
    assert levels(pin)[-3:] == [True, False, True]
    gpio.close()


def test_opening_again_during_a_pulse_extends_it(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    pin = factory.pin(RELAY)
    gpio.open_door()
    time.sleep(0.1)
    gpio.open_door()
    wait_until(lambda: not gpio.relay.is_open)
    spans = high_spans(pin)
    assert sum(spans) >= 0.24  # 0.1 s of the first pulse + a full second pulse
    gpio.close()


def test_buzzer_error_pattern_is_three_short_beeps(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    pin = factory.pin(BUZZER)
    gpio.beep("error")
    gpio.beeper.player.wait(2)
    assert levels(pin) == [False, True, False, True, False, True, False]
    spans = high_spans(pin)
    assert len(spans) == 3 and all(0.07 <= s <= 0.25 for s in spans)
    gpio.beep("ok")
    gpio.beeper.player.wait(2)
    assert len(high_spans(pin)) == 4
    assert set(BEEPS) >= {"ok", "error", "attention"}
    gpio.close()


def test_a_new_pattern_cuts_the_current_one(factory):
    gpio = TerminalGpio(cfg(), pin_factory=factory)
    pin = factory.pin(BUZZER)
    gpio.beep("attention")  # 0.4 s
    time.sleep(0.05)
    gpio.beep("ok")
    gpio.beeper.player.wait(2)
    spans = high_spans(pin)
    assert len(spans) == 2 and spans[0] < 0.2
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
    gpio.show("fault")
    assert green.state is False
    time.sleep(1.2)
    assert len(high_spans(red)) >= 2  # blinking
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
    wait_until(lambda: relay.state is True, 1)
    button.drive_high()
    wait_until(lambda: relay.state is False, 1)
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

"""GPIO outputs through gpiozero: door relay pulse, buzzer patterns, status LEDs, exit button.

The pin factory is injected (``MockFactory`` in tests); gpiozero is imported only when GPIO is
used. Without GPIO (a PC, or ``[gpio] enabled = false``) :class:`TerminalGpio` is disabled, says
why, and every call is a harmless no-op.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence

from loguru import logger

Pattern = Sequence[tuple[float, float]]  # (on seconds, off seconds) steps

#: Buzzer patterns: success, failure (three short), attention (long), test.
BEEPS: dict[str, Pattern] = {
    "ok": ((0.08, 0.0),),
    "error": ((0.08, 0.07), (0.08, 0.07), (0.08, 0.0)),
    "attention": ((0.4, 0.0),),
    "double": ((0.05, 0.05), (0.05, 0.0)),
}


class GpioUnavailable(Exception):
    """No usable pin factory (no GPIO on this machine, or its library is missing)."""


def make_pin_factory(name: str):
    """A gpiozero pin factory by config name: auto, mock, lgpio, rpigpio, native."""
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory()
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
        if name == "native":
            from gpiozero.pins.native import NativeFactory

            return NativeFactory()
        if name == "auto":
            from gpiozero import Device

            with warnings.catch_warnings(record=True) as fallbacks:
                warnings.simplefilter("always")
                try:
                    return Device._default_pin_factory()
                except Exception as exc:
                    tried = "; ".join(str(w.message) for w in fallbacks)
                    raise GpioUnavailable(f"no GPIO on this machine ({tried or exc})") from None
    except GpioUnavailable:
        raise
    except Exception as exc:  # ImportError, a board the library does not know, no /dev/gpiochip
        raise GpioUnavailable(f"GPIO backend {name!r} unusable: {exc}") from None
    raise GpioUnavailable(f"unknown GPIO backend {name!r}")


class PatternPlayer:
    """Plays on/off patterns on a digital output in a thread; a new pattern replaces the current."""

    def __init__(self, device) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def play(self, pattern: Pattern, repeat: bool = False) -> None:
        with self._lock:
            self._cancel.set()
            if self._thread is not None:
                self._thread.join()
            self._cancel = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(pattern, self._cancel, repeat), daemon=True,
                                            name="gpio-pattern")
            self._thread.start()

    def _run(self, pattern: Pattern, cancel: threading.Event, repeat: bool) -> None:
        try:
            while True:
                for on_s, off_s in pattern:
                    self.device.on()
                    cancelled = cancel.wait(on_s)
                    self.device.off()
                    if cancelled or cancel.wait(off_s):
                        return
                if not repeat:
                    return
        except Exception as exc:  # a closed device during shutdown
            logger.debug("gpio pattern stopped: {}", exc)

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def stop(self) -> None:
        with self._lock:
            self._cancel.set()
            if self._thread is not None:
                self._thread.join()
                self._thread = None


class DoorRelay:
    """A relay that opens the door for ``pulse_ms`` (active high or low)."""

    def __init__(self, pin: int, *, active_high: bool, pulse_ms: int, pin_factory) -> None:
        from gpiozero import DigitalOutputDevice

        self.pulse_s = pulse_ms / 1000
        self.device = DigitalOutputDevice(pin, active_high=active_high, initial_value=False,
                                          pin_factory=pin_factory)

    def open(self, pulse_ms: int | None = None) -> None:
        """Energise the relay for the pulse; opening again while open restarts the pulse."""
        on_s = self.pulse_s if pulse_ms is None else pulse_ms / 1000
        # Energise here, not only in the blink thread: the door is open when this returns, even if a
        # busy CPU starts that thread late. The thread then times the pulse and de-energises.
        self.device.on()
        self.device.blink(on_time=on_s, off_time=0.0, n=1, background=True)

    @property
    def is_open(self) -> bool:
        return bool(self.device.value)

    def close(self) -> None:
        self.device.close()


class Beeper:
    """The buzzer, playing named patterns from :data:`BEEPS`."""

    def __init__(self, pin: int, *, pin_factory) -> None:
        from gpiozero import Buzzer

        self.device = Buzzer(pin, initial_value=False, pin_factory=pin_factory)
        self.player = PatternPlayer(self.device)

    def beep(self, pattern: str | Pattern = "ok") -> None:
        self.player.play(BEEPS[pattern] if isinstance(pattern, str) else pattern)

    def close(self) -> None:
        self.player.stop()
        self.device.close()


class StatusLeds:
    """Green and red LEDs (either may be absent): idle, ready, success, failure, fault."""

    def __init__(self, green_pin: int | None, red_pin: int | None, *, pin_factory) -> None:
        from gpiozero import LED

        self.green = LED(green_pin, pin_factory=pin_factory) if green_pin is not None else None
        self.red = LED(red_pin, pin_factory=pin_factory) if red_pin is not None else None
        self._players = {led: PatternPlayer(led) for led in (self.green, self.red) if led is not None}
        self.state = "idle"

    def _set(self, led, pattern: Pattern | None, steady: bool = False, repeat: bool = False) -> None:
        if led is None:
            return
        player = self._players[led]
        player.stop()
        if pattern:
            player.play(pattern, repeat)
        elif steady:
            led.on()
        else:
            led.off()

    def show(self, state: str) -> None:
        """``idle`` all off; ``ready`` green on; ``success`` green 1 s; ``failure`` red 1 s;
        ``fault`` red blinking (no camera, no sensor)."""
        if state not in ("idle", "ready", "success", "failure", "fault"):
            raise ValueError(f"unknown LED state {state!r}")
        self.state = state
        self._set(self.green, ((1.0, 0.0),) if state == "success" else None, steady=state == "ready")
        if state == "fault":
            self._set(self.red, ((0.5, 0.5),), repeat=True)
        else:
            self._set(self.red, ((1.0, 0.0),) if state == "failure" else None)

    def cycle(self, step_s: float = 0.3) -> None:
        """Green, then red, then off (a visible self-test); returns when done."""
        for led in (self.green, self.red):
            if led is not None:
                self._set(led, ((step_s, 0.0),))
                self._players[led].wait()
        self.show("idle")

    def close(self) -> None:
        for led, player in self._players.items():
            player.stop()
            led.close()


class TerminalGpio:
    """Everything on GPIO, from the [gpio] section. ``state`` is ``enabled`` or ``disabled``;
    ``problems`` lists devices that could not be set up (the others still work)."""

    def __init__(self, gpio_cfg, pin_factory=None, on_exit_button: Callable[[], None] | None = None) -> None:
        self.relay: DoorRelay | None = None
        self.beeper: Beeper | None = None
        self.leds: StatusLeds | None = None
        self.exit_button = None
        self.problems: dict[str, str] = {}  # device name -> why it could not be set up
        self.state, self.reason = "disabled", ""
        if not gpio_cfg.enabled:
            self.reason = "GPIO disabled in the configuration ([gpio] enabled = false)"
            return
        try:
            factory = pin_factory if pin_factory is not None else make_pin_factory(gpio_cfg.pin_factory)
        except GpioUnavailable as exc:
            self.reason = str(exc)
            logger.warning("gpio: disabled: {}", self.reason)
            return
        self.factory = factory
        self.state = "enabled"

        def pin(value: int) -> int | None:
            return None if value < 0 else value

        self.relay = self._build("relay", lambda: DoorRelay(
            gpio_cfg.relay_pin, active_high=gpio_cfg.relay_active_high,
            pulse_ms=gpio_cfg.relay_pulse_ms, pin_factory=factory), gpio_cfg.relay_pin)
        self.beeper = self._build("buzzer", lambda: Beeper(gpio_cfg.buzzer_pin, pin_factory=factory),
                                  gpio_cfg.buzzer_pin)
        if pin(gpio_cfg.led_green_pin) is not None or pin(gpio_cfg.led_red_pin) is not None:
            self.leds = self._build("leds", lambda: StatusLeds(
                pin(gpio_cfg.led_green_pin), pin(gpio_cfg.led_red_pin), pin_factory=factory), 0)
        if pin(gpio_cfg.exit_button_pin) is not None:
            self.exit_button = self._build("exit_button", lambda: self._button(
                gpio_cfg.exit_button_pin, factory, on_exit_button), gpio_cfg.exit_button_pin)

    def _button(self, pin: int, factory, callback):
        from gpiozero import Button

        button = Button(pin, pull_up=True, bounce_time=0.05, pin_factory=factory)
        button.when_pressed = callback or self.open_door
        return button

    def _build(self, what: str, make: Callable, pin: int):
        if pin < 0:
            return None
        try:
            return make()
        except Exception as exc:  # an invalid or busy pin disables that device only
            self.problems[what] = str(exc)
            logger.error("gpio: {} unusable: {}", what, exc)
            return None

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"

    def open_door(self, pulse_ms: int | None = None) -> bool:
        if self.relay is None:
            return False
        self.relay.open(pulse_ms)
        return True

    def beep(self, pattern: str | Pattern = "ok") -> bool:
        if self.beeper is None:
            return False
        self.beeper.beep(pattern)
        return True

    def show(self, state: str) -> bool:
        if self.leds is None:
            return False
        self.leds.show(state)
        return True

    def summary(self) -> dict:
        return {
            "state": self.state, "reason": self.reason, "problems": dict(self.problems),
            "relay": self.relay is not None, "buzzer": self.beeper is not None,
            "leds": self.leds is not None, "exit_button": self.exit_button is not None,
        }

    def close(self) -> None:
        for device in (self.relay, self.beeper, self.leds, self.exit_button):
            if device is not None:
                device.close()
        self.relay = self.beeper = self.leds = self.exit_button = None

"""Rules involving several keys, checked after every key passed its own checks."""

from collections.abc import Callable
from typing import Any

from .schema import NO_PIN


CrossCheck = Callable[[dict[str, dict[str, Any]]], list[tuple[str, str]]]


def _check_sensor_distances(values: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    near, far = values["sensor"]["near_mm"], values["sensor"]["far_mm"]
    if far <= near:
        return [("sensor.far_mm", f"{far} must be greater than sensor.near_mm ({near})")]
    return []


_PIN_KEYS = ("relay_pin", "buzzer_pin", "led_green_pin", "led_red_pin", "exit_button_pin")


def _check_gpio_pins(values: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    problems = []
    used: dict[int, str] = {}
    for key in _PIN_KEYS:
        pin = values["gpio"][key]
        if pin == NO_PIN:
            continue
        if pin in used:
            problems.append((f"gpio.{key}", f"pin {pin} is already used by gpio.{used[pin]}"))
        else:
            used[pin] = key
    return problems


#: Checks involving several keys: (involved keys, doc, function).
CROSS_CHECKS: tuple[tuple[tuple[str, ...], str, CrossCheck], ...] = (
    (
        ("sensor.near_mm", "sensor.far_mm"),
        "`sensor.far_mm` must be greater than `sensor.near_mm`.",
        _check_sensor_distances,
    ),
    (
        tuple(f"gpio.{k}" for k in _PIN_KEYS),
        "GPIO pins other than -1 must all be different.",
        _check_gpio_pins,
    ),
)

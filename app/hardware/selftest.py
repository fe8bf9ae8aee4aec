"""``daka hw test``: exercise each device once and say plainly what works.

Camera: 30 frames and the measured rate. Sensor: ten distance readings. GPIO: a beep, a relay click,
an LED cycle. A device that is not configured or absent is reported as such, not as a failure;
a configured device that does not work is a failure (exit status 1).
"""

from __future__ import annotations

import time
import unicodedata

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


def check_camera(camera_cfg, source: str | None = None, frames: int = 30, timeout_s: float = 15.0,
                give_up_s: float = 5.0) -> dict:
    from app.hardware.camera import NO_CAMERA, camera_from_config

    camera = camera_from_config(camera_cfg, source)
    result = {"device": "camera", "source": camera.spec.url}
    if camera.spec.scheme == "none":
        return {**result, "result": SKIPPED, "detail": "camera.source = none"}
    got = []
    start = time.monotonic()
    with camera:
        while len(got) < frames and time.monotonic() - start < timeout_s:
            item = camera.slot.get(timeout=0.5)
            if item is not None:
                got.append(item)
            elif camera.status().state == NO_CAMERA and time.monotonic() - start > give_up_s:
                break  # still no camera after the first attempts
        status = camera.status()
    result.update(used=status.source, frames=len(got), reconnects=status.reconnects)
    if len(got) < frames:
        result.update(result=FAILED, detail=status.reason or f"only {len(got)} frames in {timeout_s:.0f} s")
        return result
    span = got[-1].ts - got[0].ts
    h, w = got[-1].frame.shape[:2]
    # the camera's rate: every frame captured in the span, also those this loop was too slow to take
    fps = (got[-1].seq - got[0].seq) / span if span > 0 else 0.0
    result.update(result=OK, width=w, height=h, fps=round(fps, 1),
                  detail=f"{len(got)} frames {w}x{h} at {fps:.1f} fps from {status.source}")
    return result


def check_sensor(sensor_cfg, port: str | None = None, readings: int = 10, timeout_s: float = 5.0) -> dict:
    from app.hardware.tof200f import sensor_from_config

    result = {"device": "sensor", "port": port or sensor_cfg.port}
    try:
        sensor = sensor_from_config(sensor_cfg, port)
    except Exception as exc:  # e.g. the simulator cannot open a pty
        return {**result, "result": FAILED, "detail": str(exc)}
    if sensor is None:
        if not sensor_cfg.enabled and port is None:
            return {**result, "result": SKIPPED, "detail": "sensor.enabled = false"}
        return {**result, "result": FAILED, "detail": "no sensor found on any known port"}
    result["port"] = sensor.port + (" (simulator)" if sensor.simulator else "")
    with sensor:
        deadline = time.monotonic() + timeout_s
        while sensor.status().readings < readings and time.monotonic() < deadline:
            time.sleep(0.02)
        status = sensor.status()
        values = [r.distance_mm for r in list(sensor.history)[:readings]]
        stamps = [r.ts for r in list(sensor.history)[:readings]]
    result.update(readings=values, errors=status.errors)
    if len(values) < readings:
        return {**result, "result": FAILED, "detail": status.reason or f"only {len(values)} readings"}
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    result.update(result=OK, max_interval_ms=round(1000 * max(gaps), 1),
                  detail=f"{readings} readings (mm, '-' = nothing in range): "
                         + " ".join("-" if v is None else str(v) for v in values)
                         + f"; longest interval {1000 * max(gaps):.0f} ms")
    return result


def check_gpio(gpio_cfg, pin_factory=None) -> list[dict]:
    from app.hardware.gpio import TerminalGpio

    gpio = TerminalGpio(gpio_cfg, pin_factory=pin_factory)
    if not gpio.enabled:
        return [{"device": "gpio", "result": SKIPPED, "detail": gpio.reason}]
    out = []
    try:
        for name, device, action in (
            ("buzzer", gpio.beeper, lambda: (gpio.beep("ok"), gpio.beeper.player.wait(2))),
            ("relay", gpio.relay, lambda: _click(gpio)),
            ("leds", gpio.leds, lambda: gpio.leds.cycle()),
        ):
            problem = gpio.problems.get(name)
            if device is None:
                out.append({"device": name, "result": FAILED if problem else SKIPPED,
                            "detail": problem or "no pin configured"})
                continue
            try:
                action()
                out.append({"device": name, "result": OK, "detail": _gpio_detail(name, gpio_cfg)})
            except Exception as exc:
                out.append({"device": name, "result": FAILED, "detail": str(exc)})
    finally:
        gpio.close()
    return out


def _click(gpio) -> None:
    gpio.open_door()
    deadline = time.monotonic() + gpio.relay.pulse_s + 2
    while gpio.relay.is_open and time.monotonic() < deadline:
        time.sleep(0.01)


def _gpio_detail(name: str, cfg) -> str:
    if name == "buzzer":
        return f"beeped on pin {cfg.buzzer_pin}"
    if name == "relay":
        level = "high" if cfg.relay_active_high else "low"
        return f"clicked pin {cfg.relay_pin} (active {level}) for {cfg.relay_pulse_ms} ms"
    return f"cycled green pin {cfg.led_green_pin}, red pin {cfg.led_red_pin}"


_NAMES = {"camera": "摄像头 camera", "sensor": "测距 sensor", "buzzer": "蜂鸣器 buzzer",
          "relay": "门锁继电器 relay", "leds": "指示灯 LEDs", "gpio": "GPIO"}
_RESULTS = {OK: "正常 OK", FAILED: "故障 FAILED", SKIPPED: "未启用 skipped"}


def _pad(text: str, width: int) -> str:
    """Pad to ``width`` terminal columns (CJK characters take two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def format_report(results: list[dict]) -> str:
    lines = [f"{_pad(_NAMES[r['device']], 18)}{_pad(_RESULTS[r['result']], 16)}{r.get('detail', '')}"
             for r in results]
    failed = sum(r["result"] == FAILED for r in results)
    lines.append(_pad("", 18) + ("全部正常 all OK" if not failed else f"{failed} 项故障 failed"))
    return "\n".join(lines)

"""Real-device checks for the board. They skip unless an environment variable names the device:
DAKA_TEST_CAMERA=csi://0 (or any camera URL), DAKA_TEST_TOF_PORT=/dev/ttyTHS1 (DAKA_TEST_TOF_BAUD,
DAKA_TEST_TOF_SLAVE optional), DAKA_TEST_GPIO_FACTORY=lgpio with DAKA_TEST_RELAY_PIN=..."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from app.config import GpioConfig
from app.hardware.camera import STREAMING, Camera
from app.hardware.camera_url import parse_camera_source
from app.hardware.tof200f import OK, Tof200fSensor


@pytest.mark.skipif(not os.environ.get("DAKA_TEST_CAMERA"), reason="DAKA_TEST_CAMERA not set")
def test_real_camera_delivers_frames():
    with Camera(parse_camera_source(os.environ["DAKA_TEST_CAMERA"])) as camera:
        items = [camera.slot.get(timeout=10) for _ in range(30)]
        status = camera.status()
    assert all(items) and status.state == STREAMING and status.fps > 5


@pytest.mark.skipif(not os.environ.get("DAKA_TEST_TOF_PORT"), reason="DAKA_TEST_TOF_PORT not set")
def test_real_tof200f_answers_ten_times_a_second():
    sensor = Tof200fSensor(os.environ["DAKA_TEST_TOF_PORT"],
                           baud=int(os.environ.get("DAKA_TEST_TOF_BAUD", "115200")),
                           slave_id=int(os.environ.get("DAKA_TEST_TOF_SLAVE", "0x50"), 0))
    with sensor:
        time.sleep(2.0)
        status = sensor.status()
    assert status.state == OK and status.rate_hz >= 10, status


@pytest.mark.skipif(not os.environ.get("DAKA_TEST_GPIO_FACTORY"), reason="DAKA_TEST_GPIO_FACTORY not set")
def test_real_relay_clicks():
    from app.hardware.gpio import TerminalGpio

    cfg = dataclasses.replace(GpioConfig(), pin_factory=os.environ["DAKA_TEST_GPIO_FACTORY"],
                              relay_pin=int(os.environ.get("DAKA_TEST_RELAY_PIN", "-1")), relay_pulse_ms=200)
    gpio = TerminalGpio(cfg)
    try:
        assert gpio.enabled, gpio.reason
        assert gpio.open_door() and gpio.relay.is_open
        time.sleep(0.4)
        assert not gpio.relay.is_open
    finally:
        gpio.close()

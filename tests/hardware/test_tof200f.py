"""The TOF200F driver against the simulator on a real pseudo-terminal."""

from __future__ import annotations

import random
import statistics
import time

import pytest

from app.hardware.tof200f import NO_SENSOR, OK, PresenceFilter, Tof200fSensor
from app.hardware.tof_sim import MAX_RANGE_MM, NO_TARGET, Tof200fSimulator
from tests.helpers.waiting import wait_for


# Correctness deadline, generous for a loaded CI machine. The reading-interval target (a reading at
# least every 100 ms) is measured by `daka hw bench` (tof_reading_intervals), not here.
DEADLINE_S = 60.0


def first_readings(sensor: Tof200fSensor, count: int) -> list:
    wait_for(lambda: len(sensor.history) >= count, DEADLINE_S)
    return list(sensor.history)[:count]


# -- presence -----------------------------------------------------------------------------


def transitions(states: list[bool]) -> int:
    return sum(a != b for a, b in zip(states, states[1:]))


def test_presence_has_hysteresis_and_needs_agreeing_readings():
    f = PresenceFilter(800, 1200, confirm=3)
    assert [f.update(d) for d in (700, 700)] == [False, False]
    assert f.update(700) is True  # third agreeing reading
    assert [f.update(d) for d in (1000, 1100, 1190, 900)] == [True] * 4  # inside the band: unchanged
    assert [f.update(d) for d in (1300, None, 1250)] == [True, True, False]
    # a lone spike does not toggle
    assert [f.update(d) for d in (500, 2000, 500, 2000)] == [False] * 4
    with pytest.raises(ValueError):
        PresenceFilter(800, 800)


@pytest.mark.parametrize("seed", range(5))
def test_no_flicker_at_either_threshold(seed):
    rng = random.Random(seed)
    f = PresenceFilter(800, 1200, confirm=3)
    around_near = [f.update(round(rng.gauss(800, 25))) for _ in range(400)]
    around_far = [f.update(round(rng.gauss(1200, 25))) for _ in range(400)]
    assert transitions(around_near) <= 1 and transitions(around_far) <= 1
    assert around_near[-1] is True and around_far[-1] is False


# -- the driver on a pty --------------------------------------------------------------------


def test_readings_follow_the_scene_at_the_poll_rate():
    with Tof200fSimulator(noise_mm=5, seed=2) as sim:
        sim.fixed_mm = 1803
        started = time.monotonic()
        with Tof200fSensor(sim.port, baud=115200, slave_id=0x50, poll_hz=20) as sensor:
            readings = first_readings(sensor, 30)
            # Polled at 20 Hz, not faster: poll k is due (k - 1) / 20 s after the start, and load can
            # only make it later. Not slower: the typical interval (a median: after a delayed poll the
            # next one comes at once). The rare long gap of a loaded machine is for the bench to count.
            assert readings[-1].ts - started >= 0.99 * 29 / 20, readings[-1].ts - started
            gaps = [b.ts - a.ts for a, b in zip(readings, readings[1:])]
            assert statistics.median(gaps) <= 0.1, gaps
            assert all(abs(r.distance_mm - 1803) <= 30 for r in readings)
            assert len({r.distance_mm for r in readings}) > 1  # the noise is real
            assert 5 <= sensor.status().rate_hz <= 25, sensor.status()  # a mean: loose from below
            sim.fixed_mm = 500  # someone steps up
            wait_for(lambda: sensor.status().present is True, DEADLINE_S)
            assert abs(sensor.status().distance_mm - 500) <= 30
            sim.fixed_mm = 5000  # beyond range: the sensor reports no target
            wait_for(lambda: sensor.status().present is False, DEADLINE_S)
            assert sensor.status().distance_mm is None
            assert sensor.history[-1].raw == NO_TARGET


def test_walk_up_scene_gives_one_arrival_and_one_departure():
    # the default scene: a person walks up from the wall, stands, leaves (12 s cycle, sped up here)
    from app.hardware.tof_sim import WalkUpScene

    scene = WalkUpScene(period_s=3.0)
    seen: list[float] = []

    def one_cycle(t: float) -> float | None:
        """One walk-up, then the corridor stays empty: however late the readings come, none of them
        can see the next cycle's arrival."""
        seen.append(t)
        return scene(min(t, 2.9))

    with Tof200fSimulator(scene=one_cycle, noise_mm=10, seed=3) as sim:
        changes = []
        with Tof200fSensor(sim.port, on_reading=lambda r, p: changes.append(p)):
            wait_for(lambda: sum(t > 2.9 for t in seen) >= 10, DEADLINE_S)  # well after the departure
    # one cycle: walks up (0.5 s), stands (0.75 s), leaves (0.5 s), gone
    assert transitions(changes) == 2, changes
    assert changes[0] is False and True in changes and changes[-1] is False


def test_corrupted_frames_and_garbage_are_never_taken_as_readings():
    with Tof200fSimulator(corrupt=0.3, garbage=0.3, noise_mm=3, seed=4) as sim:
        sim.fixed_mm = 1000
        with Tof200fSensor(sim.port) as sensor:
            readings = first_readings(sensor, 15)
            wait_for(lambda: sensor.status().errors > 0 and sensor.status().state == OK, DEADLINE_S)
    assert all(abs(r.distance_mm - 1000) <= 20 for r in readings)


def test_only_garbage_is_reported_as_garbled():
    with Tof200fSimulator(corrupt=1.0, seed=5) as sim:
        with Tof200fSensor(sim.port, lost_after_s=0.3) as sensor:
            wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
            assert "garbled" in sensor.status().reason
            assert sensor.status().readings == 0


def test_silence_is_no_sensor_and_the_sensor_comes_back():
    with Tof200fSimulator() as sim:
        sim.fixed_mm = 600
        with Tof200fSensor(sim.port, lost_after_s=0.5) as sensor:
            wait_for(lambda: sensor.status().present is True, DEADLINE_S)
            sim.silent = True  # unplugged from the UART
            # after lost_after_s without a reply; how much after depends on the load: not bounded here
            wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
            status = sensor.status()
            assert status.present is None and status.distance_mm is None
            assert "no reply" in status.reason
            sim.silent = False
            wait_for(lambda: sensor.status().state == OK, DEADLINE_S)


def test_vanished_port_is_no_sensor_and_reopened_when_it_returns(tmp_path):
    link = tmp_path / "ttyTOF"
    sim = Tof200fSimulator(link=link).start()
    try:
        with Tof200fSensor(str(link), reopen_s=0.3) as sensor:
            wait_for(lambda: sensor.status().state == OK, DEADLINE_S)
            sim.unplug()
            wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
            assert "ttyTOF" in sensor.status().reason or "no reply" in sensor.status().reason
            time.sleep(0.5)
            sim.replug()
            wait_for(lambda: sensor.status().state == OK, DEADLINE_S)
    finally:
        sim.stop()


def test_wrong_baud_rate_garbles_the_line_and_the_right_one_works():
    with Tof200fSimulator(baud=9600) as sim:
        with Tof200fSensor(sim.port, baud=115200, lost_after_s=0.3) as sensor:
            wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
            assert "baud" in sensor.status().reason
        assert sim.heard_bytes > 0 and sim.requests == 0  # the sensor heard only noise
        with Tof200fSensor(sim.port, baud=9600) as sensor:
            wait_for(lambda: sensor.status().state == OK, DEADLINE_S)
            assert sensor.status().distance_mm is None or 0 < sensor.status().distance_mm <= MAX_RANGE_MM


def test_wrong_slave_id_and_wrong_register():
    with Tof200fSimulator(slave_id=0x50) as sim:
        with Tof200fSensor(sim.port, slave_id=0x51, lost_after_s=0.3) as sensor:
            wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
            assert "slave id" in sensor.status().reason
        with Tof200fSensor(sim.port, register=0x35, lost_after_s=0.3) as sensor:
            wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
            assert "illegal data address" in sensor.status().reason


def test_missing_port_is_no_sensor_not_a_crash(tmp_path):
    with Tof200fSensor(str(tmp_path / "ttyNONE")) as sensor:
        wait_for(lambda: sensor.status().state == NO_SENSOR, DEADLINE_S)
        assert "cannot use" in sensor.status().reason and sensor.status().present is None


def test_sensor_from_config(tmp_path):
    import dataclasses

    from app.config import SensorConfig
    from app.hardware.tof200f import find_port, sensor_from_config

    assert sensor_from_config(SensorConfig(enabled=False)) is None
    cfg = dataclasses.replace(SensorConfig(), enabled=True, port="sim://", near_mm=700, far_mm=900, poll_hz=25)
    sensor = sensor_from_config(cfg)
    with sensor:
        wait_for(lambda: sensor.status().state == OK, DEADLINE_S)
        assert sensor.simulator is not None and sensor.port == sensor.simulator.port
        assert (sensor.presence.near_mm, sensor.presence.far_mm) == (700, 900)
        assert sensor.period == pytest.approx(0.04)
    assert sensor.simulator._thread is None  # stopped with the sensor
    with Tof200fSimulator() as sim:  # auto: the first listed port where the sensor answers
        ports = [str(tmp_path / "ttyNONE"), sim.port]
        assert find_port(115200, 0x50, candidates=ports) == sim.port
        assert find_port(115200, 0x51, candidates=ports) is None

"""`daka hw test|bench|tof-sim`: camera, distance sensor and GPIO."""

from __future__ import annotations

import dataclasses
import json
import os

from app.cli.common import EXIT_FAIL, EXIT_OK, load
from app.cli.signals import StopWaiter
from app.hardware.gpio import make_pin_factory


def register(sub) -> None:
    hw = sub.add_parser("hw", help="camera, distance sensor and GPIO")
    hsub = hw.add_subparsers(dest="hw_command", required=True, metavar="ACTION")
    test = hsub.add_parser("test", help="exercise camera, sensor, relay, buzzer and LEDs once")
    test.add_argument("--source", help="camera source URL (overrides [camera] source)")
    test.add_argument("--sensor-port", help="sensor serial port, or sim:// for the simulator")
    test.add_argument("--gpio", choices=("config", "mock"), default="config",
                      help="mock = simulated pins (all devices on pins 17, 18, 22, 23)")
    test.add_argument("--frames", type=int, default=30, help="camera frames to capture")
    test.add_argument("--readings", type=int, default=10, help="distance readings to take")
    test.add_argument("--json", action="store_true", help="print the results as JSON")
    test.set_defaults(handler=cmd_test)
    bench_parser = hsub.add_parser("bench", help="camera loss/recovery times, capture rate, sensor intervals (JSON)")
    bench_parser.add_argument("--repeat", type=int, default=5, help="unplug/replug cycles per source")
    bench_parser.set_defaults(handler=cmd_bench)
    sim = hsub.add_parser("tof-sim", help="run the TOF200F simulator on a pseudo-terminal until Ctrl-C")
    sim.add_argument("--link", help="also make this path a symlink to the pty (a stable port name)")
    sim.add_argument("--baud", type=int, default=None, help="sensor baud rate (default [sensor] baud)")
    sim.add_argument("--slave-id", type=lambda t: int(t, 0), default=None, help="default [sensor] slave_id")
    sim.set_defaults(handler=cmd_tof_sim)


def cmd_bench(args) -> int:
    from app.hardware import bench  # lazy: numpy, OpenCV, the camera

    load(args, create=False)
    print(json.dumps(bench.run(repeat=max(1, args.repeat)), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_tof_sim(args) -> int:
    from app.hardware.tof_sim import Tof200fSimulator  # lazy: its pty needs POSIX (termios), as in tof200f

    _, config = load(args, create=False)
    sim = Tof200fSimulator(baud=args.baud or config.sensor.baud,
                           slave_id=config.sensor.slave_id if args.slave_id is None else args.slave_id,
                           link=args.link)
    with sim:
        pty = sim.port
        try:
            print(json.dumps({"port": sim.path, "pty": pty, "baud": sim.baud, "slave_id": sim.slave_id}),
                  flush=True)
            StopWaiter().wait()  # until SIGTERM or SIGINT
        finally:
            # The stable name would dangle once the pty is gone: remove it if it is still ours.
            if sim.link and sim.link.is_symlink() and os.readlink(sim.link) == pty:
                sim.link.unlink()
    return EXIT_OK


def cmd_test(args) -> int:
    from app.services import selfcheck as selftest  # lazy: SQLAlchemy (the database check)

    _, config = load(args, create=False)
    gpio_cfg, factory = config.gpio, None
    if args.gpio == "mock":
        gpio_cfg = dataclasses.replace(gpio_cfg, enabled=True, relay_pin=17, buzzer_pin=18,
                                       led_green_pin=22, led_red_pin=23)
        factory = make_pin_factory("mock")
    results = [
        selftest.check_camera(config.camera, args.source, frames=max(1, args.frames)),
        selftest.check_sensor(config.sensor, args.sensor_port, readings=max(1, args.readings)),
        *selftest.check_gpio(gpio_cfg, factory),
    ]
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        print(selftest.format_report(results))
    return EXIT_FAIL if any(r["result"] == selftest.FAILED for r in results) else EXIT_OK

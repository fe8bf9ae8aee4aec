"""`daka`: one entry point. JSON goes to stdout; progress and logs go to stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="daka", description="Daka (打卡) face-recognition clock-in terminal")
    p.add_argument("--instance", metavar="DIR", default=None,
                   help="instance folder (config, database, photos, journal); default $DAKA_INSTANCE "
                        "or the platform default")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start the terminal")
    run.add_argument("--source", help="camera source URL or a picture/video file (overrides [camera] source)")
    run.add_argument("--headless", action="store_true",
                     help="no window (camera, vision, scheduler and admin only)")

    doctor = sub.add_parser("doctor", help="what is installed, found and working")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument("--no-verify", action="store_true", help="skip hashing the model files")

    models = sub.add_parser("models", help="model files")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    install = msub.add_parser("install", help="verify the weights and build the ONNX descriptor graph")
    install.add_argument("--force", action="store_true", help="rebuild even when current")
    msub.add_parser("list", help="print the verified model paths as JSON")

    bench = sub.add_parser("bench", help="benchmarks, printed as JSON")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="SUITE")
    native = bsub.add_parser("native", help="descriptor, HOG, gallery and text against baselines")
    native.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    native.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (median)")
    _hw_parser(sub)
    _add_vision_commands(sub, bsub)
    # -- second embedder (faceres) ---------------------------------------------------------------
    fr_bench = bsub.add_parser("faceres", help="faceres forward pass and fused recognition against baselines")
    fr_bench.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    fr_bench.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (median)")
    fr_bench.add_argument("--tfjs-runs", type=int, default=5, help="TensorFlow.js baseline runs (0 = skip)")
    # -- attendance core (store, library, clock-in) --------------------------------------------
    store_bench = bsub.add_parser("store", help="confirm latency, flush throughput, range queries")
    store_bench.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    store_bench.add_argument("--confirms", type=int, default=2000, help="timed confirm calls")
    store_bench.add_argument("--postgres", default="auto",
                             help="PostgreSQL URL, 'auto' = start a throw-away server, 'off' = skip")
    # -- kiosk (daka bench ui) --
    ui_bench = bsub.add_parser("ui", help="kiosk UI frames/s and latencies offscreen while recognising")
    ui_bench.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    ui_bench.add_argument("--seconds", type=float, default=8.0, help="seconds of live view measured")
    ui_bench.add_argument("--walkups", type=int, default=8, help="face appears / tap / success rounds")
    enroll = sub.add_parser("enroll", help="enrol photos named 工号_姓名.jpg from a folder or a zip")
    enroll.add_argument("path", metavar="DIR|ZIP", help="folder (searched recursively) or zip archive")
    sub.add_parser("reindex", help="recompute every face template with the current model")
    # -- admin web (issue 5) ----------------------------------------------------------------------
    from admin.cli import add_parser as add_admin_parser

    add_admin_parser(sub)
    admin_bench = bsub.add_parser("admin", help="attendance API and dashboard under 50 concurrent clients")
    admin_bench.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    admin_bench.add_argument("--punches", type=int, default=200_000, help="punches in the database")
    admin_bench.add_argument("--clients", type=int, default=50, help="concurrent clients")
    admin_bench.add_argument("--requests", type=int, default=2000, help="timed requests per endpoint")
    # -- end admin ---------------------------------------------------------------------------------
    return p


# --- vision: daka eval lfw, daka bench pipeline -------------------------------------------------


def _add_vision_commands(sub, bsub) -> None:
    ev = sub.add_parser("eval", help="accuracy evaluations, printed as JSON")
    esub = ev.add_subparsers(dest="eval_command", required=True, metavar="SUITE")
    lfw = esub.add_parser("lfw", help="verification pairs and open-set identification on an LFW-layout folder")
    lfw.add_argument("dir", metavar="DIR", help="folder of <Name>/<Name>_NNNN.jpg")
    lfw.add_argument("--pairs", metavar="FILE", help="LFW-format pairs file (default DIR/pairs.txt)")
    lfw.add_argument("--baseline", choices=["face_recognition"], help="evaluate a baseline library instead")
    lfw.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    lfw.add_argument("--upsample", type=int, default=0, choices=[0, 1, 2],
                     help="detector upsampling at the first pass (LFW's ~100 px faces need none)")
    lfw.add_argument("--min-face", type=int, default=0, help="minimum face size in pixels (0 = none)")
    lfw.add_argument("--no-cache", action="store_true", help="describe every image again")
    lfw.add_argument("--timing-sample", type=int, default=50, help="images timed afresh for seconds/image")
    # -- liveness (issue 9) --
    live = esub.add_parser("liveness", help="APCER/BPCER of the liveness decision on synthetic attacks and live faces")
    live.add_argument("--faces", metavar="DIR", default=None, help="LFW-layout photo folder (default ../shared/data/faces)")
    live.add_argument("--extras", metavar="DIR", default=None,
                      help="folder with video/ and spoof/ (default ../shared/data/extras; skipped when absent)")
    live.add_argument("--seed", type=int, default=9, help="seed of the synthetic attacks and heads")
    live.add_argument("--per-cell", type=int, default=20, help="attacks per species and distance")
    live.add_argument("--live", type=int, default=200, help="rendered live heads (bona fide attempts)")
    live.add_argument("--stills", type=int, default=300, help="real face photos measured as stills (texture cue)")
    live.add_argument("--cells", nargs="+", metavar="SPECIES/DISTANCE",
                      help="only these attack cells, e.g. phone_screen/implausible (default: all eight)")
    live.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")

    pipe = bsub.add_parser("pipeline", help="frames/s and time to identity against face_recognition")
    pipe.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    pipe.add_argument("--video", metavar="FILE", help="a video file (default: a clip synthesised from photos)")
    pipe.add_argument("--enrol", metavar="DIR", action="append", default=[],
                      help="with --video: a folder of <person>/<photo> to enrol (repeatable)")
    pipe.add_argument("--no-baseline", action="store_true", help="skip the face_recognition run")
    pipe.add_argument("--repeat", type=int, default=3, help="throughput runs per system (median)")
    head = bsub.add_parser("headrender", help="ms per frame of the rendered live heads against the attack renderer")
    head.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    head.add_argument("--repeat", type=int, default=5, help="timed sequences per renderer (median)")


def cmd_eval_liveness(args, config, models) -> int:
    from app.eval.liveness import evaluate_liveness

    data = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    faces = Path(args.faces) if args.faces else data / "faces"
    extras = Path(args.extras) if args.extras else data / "extras"
    if not faces.is_dir():
        print(f"daka: no face photo folder at {faces} (--faces DIR)", file=sys.stderr)
        return EXIT_FAIL
    try:
        result = evaluate_liveness(models, faces, extras if extras.is_dir() else None, seed=args.seed,
                                   per_cell=max(1, args.per_cell), live_count=max(1, args.live), cells=args.cells,
                                   stills=max(0, args.stills))
    except ValueError as exc:
        print(f"daka: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_eval(args) -> int:
    from app.devdata import cache_dir
    from app.eval.lfw import DatasetError
    from app.eval.run import evaluate_lfw
    from app.models import resolve

    _, config = _load(args, create=False)
    models = resolve(config.models.dir or None, verify=config.models.verify)
    if args.eval_command == "liveness":
        return cmd_eval_liveness(args, config, models)
    try:
        result = evaluate_lfw(args.dir, args.pairs, models, config, baseline=args.baseline,
                              upsample=args.upsample, min_face=args.min_face,
                              cache_dir=None if args.no_cache else cache_dir() / "eval",
                              timing_sample=args.timing_sample)
    except (DatasetError, FileNotFoundError, RuntimeError) as exc:
        print(f"daka: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_bench_pipeline(args, config, models) -> int:
    from app.bench import pipeline as bench_pipeline

    result = bench_pipeline.run(models, config, video=args.video, enrol_dirs=args.enrol,
                                baseline=not args.no_baseline, repeat=max(1, args.repeat))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_bench_headrender(args, models) -> int:
    from app.bench import headrender as bench_headrender

    print(json.dumps(bench_headrender.run(models, repeat=max(1, args.repeat)), indent=2))
    return EXIT_OK


# --- end vision ------------------------------------------------------------------------------


def _load(args, *, create: bool = True):
    """Instance folder, validated config and logging, in that order."""
    from app.config import load_config
    from app.instance import Instance
    from app.logs import setup_logging

    instance = Instance.resolve(args.instance)
    if create:
        instance.prepare()
    config = load_config(instance)
    setup_logging(config.log, instance if create else None)
    return instance, config


def cmd_doctor(args) -> int:
    from app.config import load_config
    from app.doctor import format_report, run_doctor
    from app.instance import Instance

    # The doctor looks without creating anything.
    instance = Instance.resolve(args.instance)
    config = load_config(instance)
    report = run_doctor(config, instance.root, verify_models=not args.no_verify)
    report["instance"] = str(instance.root)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK if report["ok"] else EXIT_FAIL


def cmd_models(args) -> int:
    from app.models import resolve
    from app.models.install import install_models

    _, config = _load(args, create=False)
    directory = config.models.dir or None
    if args.models_command == "install":
        install_models(directory, force=args.force)
        return EXIT_OK
    models = resolve(directory, verify=config.models.verify)
    listed = {k: str(v) for k, v in models.files.items()}
    if models.faceres:
        listed["faceres"] = str(models.faceres)
    print(json.dumps(listed, indent=2))
    return EXIT_OK


def cmd_bench(args) -> int:
    if args.bench_command == "store":
        return cmd_bench_store(args)
    if args.bench_command == "admin":
        return cmd_bench_admin(args)
    if args.bench_command == "ui":
        return cmd_bench_ui(args)
    from app.bench import native as bench_native
    from app.fonts import find_cjk_font
    from app.models import resolve

    _, config = _load(args, create=False)
    models = resolve(config.models.dir or None, verify=config.models.verify)
    if args.bench_command == "pipeline":
        return cmd_bench_pipeline(args, config, models)
    if args.bench_command == "headrender":
        return cmd_bench_headrender(args, models)
    if args.bench_command == "faceres":
        from app.bench import faceres as bench_faceres

        print(json.dumps(bench_faceres.run(models, config, repeat=max(3, args.repeat), tfjs_runs=args.tfjs_runs),
                         indent=2))
        return EXIT_OK
    result = bench_native.run(models, find_cjk_font(config.ui.font or None), repeat=max(3, args.repeat))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_bench_ui(args) -> int:
    from app.bench import ui as bench_ui
    from app.models import resolve

    _, config = _load(args, create=False)
    models = resolve(config.models.dir or None, verify=config.models.verify)
    result = bench_ui.run(models, seconds=max(1.0, args.seconds), walkups=max(1, args.walkups))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_run(args) -> int:
    from loguru import logger

    from app.kiosk.runner import run_terminal

    instance, config = _load(args)
    logger.info("Daka {} starting, instance {}", __import__("app").__version__, instance.root)
    try:
        return run_terminal(config, instance, source=args.source, headless=args.headless)
    except (FileNotFoundError, ValueError) as exc:   # a bad --source (CameraUrlError is a ValueError)
        print(f"daka: {exc}", file=sys.stderr)
        return EXIT_USAGE


# --- hardware (daka hw ...) ---------------------------------------------------------------


def _hw_parser(sub) -> None:
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
    bench = hsub.add_parser("bench", help="camera loss/recovery times, capture rate, sensor intervals (JSON)")
    bench.add_argument("--repeat", type=int, default=5, help="unplug/replug cycles per source")
    sim = hsub.add_parser("tof-sim", help="run the TOF200F simulator on a pseudo-terminal until Ctrl-C")
    sim.add_argument("--link", help="also make this path a symlink to the pty (a stable port name)")
    sim.add_argument("--baud", type=int, default=None, help="sensor baud rate (default [sensor] baud)")
    sim.add_argument("--slave-id", type=lambda t: int(t, 0), default=None, help="default [sensor] slave_id")


def cmd_hw(args) -> int:
    import dataclasses

    from app.services import selfcheck as selftest

    _, config = _load(args, create=False)
    if args.hw_command == "bench":
        from app.hardware import bench

        print(json.dumps(bench.run(repeat=max(1, args.repeat)), ensure_ascii=False, indent=2))
        return EXIT_OK
    if args.hw_command == "tof-sim":
        from app.cli.signals import StopWaiter
        from app.hardware.tof_sim import Tof200fSimulator

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
    gpio_cfg, factory = config.gpio, None
    if args.gpio == "mock":
        from app.hardware.gpio import make_pin_factory

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


# --- end of hardware ----------------------------------------------------------------------



def _open_library(instance, config):
    from app.services.compose import open_library
    from app.store import open_store

    return open_library(config, instance, open_store(config, instance))


def cmd_enroll(args) -> int:
    import zipfile

    from app.cli.progress import ProgressBar
    from app.library import folder_items, zip_items
    from app.library.sources import count_items

    instance, config = _load(args)
    source = Path(args.path)
    max_bytes = config.storage.photo_max_mb * 1024 * 1024
    if source.is_dir():
        items = folder_items(source, max_bytes=max_bytes)
    elif zipfile.is_zipfile(source):
        items = zip_items(source, max_bytes=max_bytes, max_files=config.library.max_zip_files)
    else:
        print(f"daka: {source} is neither a folder nor a zip archive", file=sys.stderr)
        return EXIT_USAGE
    library = _open_library(instance, config)
    bar = ProgressBar(count_items(source), "enrol")
    results = []
    for i, result in enumerate(library.enroll_many(items), 1):
        results.append(result.as_dict())
        bar.update(i, result.file)
    bar.update(bar.total)
    ok = sum(r["ok"] for r in results)
    print(json.dumps({"enrolled": ok, "refused": len(results) - ok, "files": results},
                     ensure_ascii=False, indent=2))
    return EXIT_OK if ok == len(results) else EXIT_FAIL


def cmd_reindex(args) -> int:
    from app.cli.progress import ProgressBar

    instance, config = _load(args)
    library = _open_library(instance, config)
    bar: list[ProgressBar] = []

    def progress(done, total):
        if not bar:
            bar.append(ProgressBar(total, "reindex"))
        bar[0].update(done)
    report = library.reindex(progress)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return EXIT_OK if not report["failed"] else EXIT_FAIL


def cmd_bench_store(args) -> int:
    from app.bench import store as bench_store

    instance, config = _load(args)
    result = bench_store.run(config, confirms=args.confirms, postgres=args.postgres)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


# --- admin web (issue 5) ----------------------------------------------------------------------


def cmd_admin(args) -> int:
    from admin.cli import run

    instance, config = _load(args)
    return run(args, instance, config)


def cmd_bench_admin(args) -> int:
    from admin import bench

    _load(args, create=False)
    result = bench.run(punches=args.punches, clients=args.clients, requests=args.requests)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


# --- end admin ---------------------------------------------------------------------------------


COMMANDS = {
    "run": cmd_run, "doctor": cmd_doctor, "models": cmd_models, "bench": cmd_bench, "hw": cmd_hw, "eval": cmd_eval,
    "enroll": cmd_enroll, "reindex": cmd_reindex,
    "admin": cmd_admin,
}


def main(argv: list[str] | None = None) -> int:
    from app.config import ConfigError
    from app.fonts import FontError
    from app.instance import InstanceError
    from app.models import ModelError

    from app.cli.signals import StopRequested, raise_on_stop_signals

    args = _parser().parse_args(argv)
    try:
        with raise_on_stop_signals():
            return COMMANDS[args.command](args)
    except StopRequested as stop:
        print(f"daka: stopped by {stop}", file=sys.stderr)
        return stop.exit_code
    except (ConfigError, InstanceError) as exc:
        print(f"daka: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelError, FontError) as exc:
        print(f"daka: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    finally:
        from app.logs import close_logging

        close_logging()


if __name__ == "__main__":
    sys.exit(main())

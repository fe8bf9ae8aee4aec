"""`daka bench SUITE`: benchmarks, printed as JSON (`bench admin` is registered by commands/admin.py)."""

from __future__ import annotations

import json

from app.cli.common import EXIT_FAIL, EXIT_OK, load, resolve_models
from app.fonts import find_cjk_font


def register(sub):
    """Add `bench` and its suites; return the suites' subparsers (for `bench admin`)."""
    bench = sub.add_parser("bench", help="benchmarks, printed as JSON")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="SUITE")
    native = bsub.add_parser("native", help="descriptor, HOG, gallery and text against baselines")
    native.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    native.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (median)")
    native.set_defaults(handler=cmd_native)

    pipe = bsub.add_parser("pipeline", help="frames/s and time to identity against face_recognition")
    pipe.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    pipe.add_argument("--video", metavar="FILE", help="a video file (default: a clip synthesised from photos)")
    pipe.add_argument("--enrol", metavar="DIR", action="append", default=[],
                      help="with --video: a folder of <person>/<photo> to enrol (repeatable)")
    pipe.add_argument("--no-baseline", action="store_true", help="skip the face_recognition run")
    pipe.add_argument("--repeat", type=int, default=3, help="throughput runs per system (median)")
    pipe.set_defaults(handler=cmd_pipeline)
    head = bsub.add_parser("headrender", help="ms per frame of the rendered live heads against the attack renderer")
    head.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    head.add_argument("--repeat", type=int, default=5, help="timed sequences per renderer (median)")
    head.set_defaults(handler=cmd_headrender)
    enrol = bsub.add_parser("enrol", help="enrolling one photo into a large gallery, the decision's recomputation included")
    enrol.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    enrol.add_argument("--people", type=int, default=2000, help="people already enrolled (random templates)")
    enrol.add_argument("--repeat", type=int, default=15, help="timed enrolments (median)")
    enrol.set_defaults(handler=cmd_enrol)

    faceres = bsub.add_parser("faceres", help="faceres forward pass and fused recognition against baselines")
    faceres.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    faceres.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (median)")
    faceres.add_argument("--tfjs-runs", type=int, default=5, help="TensorFlow.js baseline runs (0 = skip)")
    faceres.set_defaults(handler=cmd_faceres)

    store = bsub.add_parser("store", help="confirm latency, flush throughput, range queries")
    store.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    store.add_argument("--confirms", type=int, default=2000, help="timed confirm calls")
    store.add_argument("--postgres", default="auto",
                       help="PostgreSQL URL, 'auto' = start a throw-away server, 'off' = skip")
    store.set_defaults(handler=cmd_store)

    # issue 24: the attendance rules' month for 1,000 staff
    rules = bsub.add_parser("rules", help="attendance rules: a month of day statuses for 1,000 staff")
    rules.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    rules.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    rules.add_argument("--postgres", default="auto",
                       help="PostgreSQL URL, 'auto' = start a throw-away server, 'off' = skip")
    rules.set_defaults(handler=cmd_rules)

    ui = bsub.add_parser("ui", help="kiosk UI frames/s and latencies offscreen while recognising")
    ui.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    ui.add_argument("--seconds", type=float, default=8.0, help="seconds of live view measured")
    ui.add_argument("--walkups", type=int, default=8, help="face appears / tap / success rounds")
    ui.set_defaults(handler=cmd_ui)

    adms = bsub.add_parser("adms", help="confirm -> ADMS server latency (median, p99) against a running server")
    adms.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    adms.add_argument("--url", required=True, help="the ADMS server, e.g. one started by "
                                                    "`python -m tests.helpers.adms_server DIR`")
    adms.add_argument("--punches", type=int, default=100, help="punches confirmed, one at a time")
    adms.set_defaults(handler=cmd_adms)
    zkpull = bsub.add_parser("zkpull", help="ZKTeco pull clients reading 1,000 staff / 50,000 punches; "
                                            "kiosk frames/s under a 4370 fuzzer")
    zkpull.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    zkpull.add_argument("--staff", type=int, default=1000, help="staff in the store read")
    zkpull.add_argument("--punches", type=int, default=50_000, help="punches in the store read")
    zkpull.add_argument("--repeat", type=int, default=3, help="timed reads per client (median)")
    zkpull.add_argument("--no-kiosk", action="store_true", help="skip the kiosk frame-rate runs")
    zkpull.add_argument("--seconds", type=float, default=8.0, help="seconds of live view per kiosk run")
    zkpull.set_defaults(handler=cmd_zkpull)
    # issue 20: many terminals, one central PostgreSQL
    fleet = bsub.add_parser("fleet", help="simulated terminals confirming punches against one central PostgreSQL "
                                          "(confirm p99, flush-to-central p99, lost punches, central CPU)")
    fleet.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    fleet.add_argument("--terminals", type=int, default=50, help="simulated terminals")
    fleet.add_argument("--seconds", type=float, default=300.0, help="seconds of the fleet phase")
    fleet.add_argument("--rate", type=float, default=2.0, help="punches a second per terminal")
    fleet.add_argument("--baseline-seconds", type=float, default=None,
                       help="seconds of the standalone phase (default: the fleet phase's, at most 30; 0 = skip)")
    fleet.add_argument("--api-clients", type=int, default=2, help="clients of the central admin's attendance API")
    fleet.add_argument("--changes", type=int, default=20,
                       help="renames at the centre timed to each linked terminal's library (0 = skip)")
    fleet.add_argument("--links", type=int, default=10, help="terminals running the real fleet link for that")
    fleet.add_argument("--postgres", default="auto",
                       help="the central database's owner URL (an empty database), 'auto' = start a throw-away server")
    fleet.set_defaults(handler=cmd_fleet)
    return bsub


def _models(args):
    _, config = load(args, create=False)
    return config, resolve_models(config)


def cmd_native(args) -> int:
    from app.bench import native as bench_native  # lazy: numpy, the native core

    config, models = _models(args)
    result = bench_native.run(models, find_cjk_font(config.ui.font or None), repeat=max(3, args.repeat))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_pipeline(args) -> int:
    from app.bench import pipeline as bench_pipeline  # lazy: numpy, OpenCV, ONNX Runtime

    config, models = _models(args)
    result = bench_pipeline.run(models, config, video=args.video, enrol_dirs=args.enrol,
                                baseline=not args.no_baseline, repeat=max(1, args.repeat))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_headrender(args) -> int:
    from app.bench import headrender as bench_headrender  # lazy: numpy, OpenCV

    _, models = _models(args)
    print(json.dumps(bench_headrender.run(models, repeat=max(1, args.repeat)), indent=2))
    return EXIT_OK


def cmd_enrol(args) -> int:
    from app.library import bench as bench_enrol  # lazy: numpy, OpenCV, ONNX Runtime, the store

    config, models = _models(args)
    print(json.dumps(bench_enrol.run(models, config, people=max(1, args.people), repeat=max(3, args.repeat)),
                     ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_faceres(args) -> int:
    from app.bench import faceres as bench_faceres  # lazy: numpy, ONNX Runtime

    config, models = _models(args)
    print(json.dumps(bench_faceres.run(models, config, repeat=max(3, args.repeat), tfjs_runs=args.tfjs_runs),
                     indent=2))
    return EXIT_OK


def cmd_store(args) -> int:
    from app.bench import store as bench_store  # lazy: SQLAlchemy, numpy

    _, config = load(args)
    result = bench_store.run(config, confirms=args.confirms, postgres=args.postgres)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_rules(args) -> int:
    from app.bench import rules as bench_rules  # lazy: SQLAlchemy, numpy

    _, config = load(args)
    result = bench_rules.run(config, repeat=max(1, args.repeat), postgres=args.postgres)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_ui(args) -> int:
    from app.bench import ui as bench_ui  # lazy: Kivy, OpenCV

    _, models = _models(args)
    result = bench_ui.run(models, seconds=max(1.0, args.seconds), walkups=max(1, args.walkups))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_adms(args) -> int:
    from app.bench import adms as bench_adms  # lazy: SQLAlchemy, APScheduler

    load(args, create=False)   # logging as configured (the bench makes its own instance)
    result = bench_adms.run(args.url, punches=max(1, args.punches))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_zkpull(args) -> int:
    from app.bench import zkpull as bench_zkpull  # lazy: SQLAlchemy, numpy, OpenCV, the clients

    models = None if args.no_kiosk else _models(args)[1]
    result = bench_zkpull.run(models, staff=max(1, args.staff), punches=max(1, args.punches),
                              repeat=max(1, args.repeat), kiosk=not args.no_kiosk, seconds=max(1.0, args.seconds))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_fleet(args) -> int:
    from app.bench import fleet as bench_fleet  # lazy: SQLAlchemy, psycopg

    load(args, create=False)   # logging as configured (the bench makes its own instances)
    result = bench_fleet.run(terminals=max(1, args.terminals), seconds=max(1.0, args.seconds),
                             rate=max(0.1, args.rate), baseline_seconds=args.baseline_seconds,
                             postgres=args.postgres, api_clients=max(0, args.api_clients),
                             changes=max(0, args.changes), links=max(1, args.links))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    missed = (result["propagation"] or {}).get("missed", 0)
    return EXIT_OK if result["fleet"]["lost"] == 0 and result["fleet"]["doubled"] == 0 and not missed else EXIT_FAIL


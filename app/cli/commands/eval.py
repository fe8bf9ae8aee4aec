"""`daka eval lfw|liveness`: accuracy evaluations, printed as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, load, resolve_models
from app.devdata import cache_dir

# The shared data folder next to the checkout (<checkout>/../shared/data).
SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def register(sub) -> None:
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
    lfw.set_defaults(handler=cmd_lfw)
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
    live.set_defaults(handler=cmd_liveness)


def cmd_lfw(args) -> int:
    from app.eval.lfw import DatasetError  # lazy: numpy, OpenCV, ONNX Runtime (both)
    from app.eval.run import evaluate_lfw

    _, config = load(args, create=False)
    models = resolve_models(config)
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


def cmd_liveness(args) -> int:
    from app.eval.liveness import evaluate_liveness  # lazy: numpy, OpenCV, ONNX Runtime

    _, config = load(args, create=False)
    models = resolve_models(config)
    faces = Path(args.faces) if args.faces else SHARED_DATA / "faces"
    extras = Path(args.extras) if args.extras else SHARED_DATA / "extras"
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

"""`daka doctor`: what is installed, found and working."""

from __future__ import annotations

import json

from app.cli.common import EXIT_FAIL, EXIT_OK
from app.config import load_config
from app.instance import Instance


def register(sub) -> None:
    doctor = sub.add_parser("doctor", help="what is installed, found and working")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument("--no-verify", action="store_true", help="skip hashing the model files")
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args) -> int:
    from app.doctor import format_report, run_doctor  # lazy: SQLAlchemy and OpenCV (the checks)

    # The doctor looks without creating anything (no instance.prepare(), no log file).
    instance = Instance.resolve(args.instance)
    config = load_config(instance)
    report = run_doctor(config, instance.root, verify_models=not args.no_verify)
    report["instance"] = str(instance.root)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK if report["ok"] else EXIT_FAIL

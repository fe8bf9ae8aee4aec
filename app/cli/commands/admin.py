"""`daka admin serve|create-user|create-token` and `daka bench admin`.

The admin's own commands live next to it (admin/cli.py); this module binds them into `daka`.
app/cli is a composition root: with app/kiosk/runner.py, the only place under app/ that imports
the admin package (tests/architecture/test_import_graph.py holds the rule).
"""

from __future__ import annotations

import json

from admin import cli as admin_cli
from app.cli.common import EXIT_OK, load


def register(sub, bench_suites) -> None:
    admin_cli.add_parser(sub).set_defaults(handler=cmd_admin)
    bench = bench_suites.add_parser("admin", help="attendance API and dashboard under 50 concurrent clients")
    bench.add_argument("--json", action="store_true", help="JSON output (always on; for symmetry)")
    bench.add_argument("--punches", type=int, default=200_000, help="punches in the database")
    bench.add_argument("--clients", type=int, default=50, help="concurrent clients")
    bench.add_argument("--requests", type=int, default=2000, help="timed requests per endpoint")
    bench.set_defaults(handler=cmd_bench_admin)


def cmd_admin(args) -> int:
    instance, config = load(args)
    return admin_cli.run(args, instance, config)


def cmd_bench_admin(args) -> int:
    from admin import bench  # lazy: Flask, SQLAlchemy, waitress

    load(args, create=False)
    result = bench.run(punches=args.punches, clients=args.clients, requests=args.requests)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK

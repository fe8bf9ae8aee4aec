"""`daka fleet join|leave|status`: the terminal side of a fleet (issue 20, docs/fleet.md).

Run on the terminal, with the terminal stopped for join and leave (they take the instance's lock,
as `daka run` does). The connection is the terminal's own role: `--fleet-url`, else the
configured `[fleet] database_url`. JSON on stdout, errors on stderr.
"""

from __future__ import annotations

import json
import sys

from app.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, load
from app.config.schema import key_spec


def register(fsub) -> None:
    join = fsub.add_parser(
        "join", help="join this terminal to a central database: upload its staff, photos and punches (no "
                     "duplicates), then mirror the central library (the terminal stopped)")
    join.add_argument("--fleet-url", metavar="URL",
                      help="this terminal's role URL (`daka fleet add-terminal` prints it); written to "
                           "daka.toml [fleet] database_url once the join succeeded; default: the configured one")
    join.set_defaults(handler=cmd_join)
    leave = fsub.add_parser("leave", help="run this terminal standalone again, keeping its library and punches "
                                          "(the terminal stopped)")
    leave.set_defaults(handler=cmd_leave)
    status = fsub.add_parser("status", help="this terminal's link: punches waiting, the centre reachable or not")
    status.set_defaults(handler=cmd_status)


def _fleet_url(args, config) -> str | None:
    url = getattr(args, "fleet_url", None) or config.fleet.database_url
    if url:
        problem = key_spec("fleet.database_url").meta.check(url)
        if problem:
            print(f"daka: --fleet-url {problem}", file=sys.stderr)
            return None
    return url


def _terminal_side():
    from app.fleet import join   # lazy: psycopg, SQLAlchemy and the store are heavy for `daka --help`
    return join


def cmd_join(args) -> int:
    instance, config = load(args)
    url = _fleet_url(args, config)
    if not url:
        print("daka: no central database: give --fleet-url or set [fleet] database_url", file=sys.stderr)
        return EXIT_USAGE
    side = _terminal_side()
    lock = instance.lock("daka fleet join on instance " + str(instance.root))
    try:
        result = side.join_instance(config, instance, url)
    except side.JOIN_ERRORS as exc:
        print(f"daka: joining the centre failed, nothing changed here: {' '.join(str(exc).split())}",
              file=sys.stderr)
        return EXIT_FAIL
    finally:
        lock.release()
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK


def cmd_leave(args) -> int:
    instance, config = load(args)
    side = _terminal_side()
    lock = instance.lock("daka fleet leave on instance " + str(instance.root))
    try:
        result = side.leave_instance(config, instance)
    finally:
        lock.release()
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK


def cmd_status(args) -> int:
    instance, config = load(args, create=False)
    result = _terminal_side().instance_status(config, instance)
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK if not result["fleet"] or result.get("reachable") else EXIT_FAIL

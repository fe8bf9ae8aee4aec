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


def cmd_join(args) -> int:
    # lazy: psycopg, SQLAlchemy and the store are heavy for `daka --help`
    from app.attendance import open_attendance
    from app.fleet.join import join, set_fleet_url
    from app.store import open_store

    instance, config = load(args)
    url = _fleet_url(args, config)
    if not url:
        print("daka: no central database: give --fleet-url or set [fleet] database_url", file=sys.stderr)
        return EXIT_USAGE
    lock = instance.lock("daka fleet join on instance " + str(instance.root))
    try:
        store = open_store(config, instance)
        try:
            attendance = open_attendance(config, instance, store)
            attendance.recover()   # punches still journaled go up with the rest
            attendance.close()
            try:
                result = join(store, url, instance.photos_dir)
            except Exception as exc:
                print(f"daka: joining the centre failed, nothing changed here: {' '.join(str(exc).split())}",
                      file=sys.stderr)
                return EXIT_FAIL
        finally:
            store.dispose()
        if url != config.fleet.database_url:
            set_fleet_url(instance.config_path, url)
    finally:
        lock.release()
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK


def cmd_leave(args) -> int:
    from app.fleet.join import set_fleet_url, status   # lazy: psycopg, SQLAlchemy
    from app.store import open_store

    instance, config = load(args)
    lock = instance.lock("daka fleet leave on instance " + str(instance.root))
    try:
        store = open_store(config, instance)
        try:
            state = status(store, "")
        finally:
            store.dispose()
        set_fleet_url(instance.config_path, None)
    finally:
        lock.release()
    print(json.dumps({"fleet": False, "left": config.fleet.database_url != "",
                      "pending_punches": state["pending_punches"],
                      "queued_enrolments": state["queued_enrolments"]}, ensure_ascii=False))
    return EXIT_OK


def cmd_status(args) -> int:
    from app.fleet.join import status   # lazy: psycopg, SQLAlchemy
    from app.store import open_store

    instance, config = load(args, create=False)
    store = open_store(config, instance)
    try:
        result = status(store, config.fleet.database_url)
    finally:
        store.dispose()
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK if not result["fleet"] or result.get("reachable") else EXIT_FAIL

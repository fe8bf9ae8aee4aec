"""`daka fleet init|add-terminal|remove-terminal|list`: the fleet's central database (docs/fleet.md).

Each runs against the central PostgreSQL as its owner: ``--database-url``, else the configured
``[storage] database_url`` (``DATABASE_URL``). JSON on stdout; a refusal is one line on stderr in
the configured language ([device] language) and exit code 1 (2 for a usage error: a bad name, a
database that is not PostgreSQL).
"""

from __future__ import annotations

import json
import sys

from app.cli.commands import fleet_terminal
from app.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, load
from app.config import resolve_database_url
from app.fleet import central, roles   # light: they import SQLAlchemy when they connect

# Refusals that are the caller's mistake in the command line rather than the database's state.
_USAGE_ERRORS = {"bad_terminal_name", "not_postgresql"}


def register(sub) -> None:
    fleet = sub.add_parser("fleet", help="many terminals, one central PostgreSQL database",
                           description="Run on the central server, as the database owner (docs/fleet.md).")
    fsub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")

    def action(name, handler, help_text):
        parser = fsub.add_parser(name, help=help_text)
        parser.add_argument("--database-url", metavar="URL",
                            help="the central database, as its owner (default [storage] database_url / "
                                 "DATABASE_URL)")
        parser.set_defaults(handler=handler)
        return parser

    action("init", cmd_init, "add the fleet's objects to a central database the store has set up "
                             "(`daka admin create-user` against it first); safe to run again")
    add = action("add-terminal", cmd_add_terminal,
                 "create a terminal's database role and print its connection settings (shown once)")
    add.add_argument("name", help="lower-case letters, digits and _ (the device id; the role is daka_t_NAME)")
    add.add_argument("--location", default="", help="where the terminal stands (shown on the devices page)")
    add.add_argument("--cert", action="store_true",
                     help="a role that signs in with a client certificate (CN = the role name), no password")
    add.add_argument("--host", help="the server's address as the terminal reaches it (default: the URL's host)")
    add.add_argument("--port", type=int, help="the server's port as the terminal reaches it")
    add.add_argument("--sslmode", choices=("disable", "prefer", "require", "verify-ca", "verify-full"),
                     help="libpq sslmode in the terminal's URL (--cert: verify-full unless given)")
    add.add_argument("--cert-dir", default="/etc/daka/fleet",
                     help="with --cert: the folder on the terminal holding root.crt and daka_t_NAME.crt/.key")
    remove = action("remove-terminal", cmd_remove_terminal,
                    "disable a terminal and drop its role (its punches stay)")
    remove.add_argument("name")
    action("list", cmd_list, "the terminals of the central database")
    fleet_terminal.register(fsub)   # issue 20, the terminal side: join, leave, status


def _url(args, instance, config) -> str:
    return args.database_url or resolve_database_url(config, instance)


def _answer(args, work) -> int:
    """`work(url)` against the centre, its result printed as JSON; a refusal (FleetError) in the
    device's language on stderr, a usage error's exit code for the caller's mistakes."""
    instance, config = load(args, create=False)
    try:
        done = work(_url(args, instance, config))
    except central.FleetError as exc:
        print(f"daka: {exc.message(config.device.language)}", file=sys.stderr)
        return EXIT_USAGE if exc.key in _USAGE_ERRORS else EXIT_FAIL
    print(json.dumps(done, ensure_ascii=False, default=str))
    return EXIT_OK


def cmd_init(args) -> int:
    return _answer(args, central.init_centre)


def cmd_add_terminal(args) -> int:
    return _answer(args, lambda url: roles.add_terminal(
        url, args.name, location=args.location, cert=args.cert, host=args.host, port=args.port,
        sslmode=args.sslmode, cert_dir=args.cert_dir).as_dict())


def cmd_remove_terminal(args) -> int:
    return _answer(args, lambda url: roles.remove_terminal(url, args.name))


def cmd_list(args) -> int:
    return _answer(args, lambda url: {"terminals": roles.list_terminals(url)})

"""`daka admin serve|create-user|create-token` (bound into `daka` by app/cli/commands/admin.py).

This module is imported for `daka --help`: the store, Flask and waitress are imported inside
`run` (marked ``# lazy``), when a command needs them.
"""

from __future__ import annotations

import json
import sys

from . import create_app

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_parser(sub):
    """Add `admin` and its actions; return its parser."""
    admin = sub.add_parser("admin", help="the web admin")
    asub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    serve = asub.add_parser("serve", help="serve the admin alone")
    serve.add_argument("--host", help="address to listen on (default [admin] host)")
    serve.add_argument("--port", type=int, help="TCP port (default [admin] port)")
    user = asub.add_parser("create-user", help="create an admin account; the password is read from stdin")
    user.add_argument("name")
    user.add_argument("--role", choices=["admin", "hr", "viewer"], default="admin")
    token = asub.add_parser("create-token", help="create an API token and print it once")
    token.add_argument("name")
    token.add_argument("--role", choices=["admin", "hr", "viewer"], default="admin")
    return admin


def run(args, instance, config) -> int:
    from app.store import open_store  # lazy: SQLAlchemy

    if args.admin_command == "serve":
        from .server import AdminServer  # lazy: waitress

        app = create_app(config, instance)
        server = AdminServer(app, args.host or config.admin.host, args.port or config.admin.port,
                             threads=config.admin.threads)
        delivery = app.extensions["daka_admin"].start_centre_delivery()   # a fleet's centre delivers the webhook
        print(json.dumps({"url": server.url}), flush=True)
        try:
            server.serve_forever()
        finally:
            server.stop()
            if delivery is not None:
                delivery.stop()
        return EXIT_OK
    store = open_store(config, instance)
    try:
        if args.admin_command == "create-user":
            from app.setup_code import discard  # lazy: Flask, SQLAlchemy

            from .auth.users import UserError, create_user

            password = sys.stdin.readline().rstrip("\r\n")
            try:
                create_user(store, args.name, password, args.role, actor="cli")
            except UserError as exc:
                print(f"daka: {exc}", file=sys.stderr)
                return EXIT_FAIL
            discard(instance)  # an account exists: the first-run code is spent
            print(json.dumps({"user": args.name, "role": args.role}, ensure_ascii=False))
            return EXIT_OK
        from .auth.tokens import create  # lazy: Flask, SQLAlchemy

        try:
            token = create(store, args.name, "cli", role=args.role)
        except ValueError as exc:
            print(f"daka: {exc}", file=sys.stderr)
            return EXIT_FAIL
        print(token)
        return EXIT_OK
    finally:
        store.dispose()

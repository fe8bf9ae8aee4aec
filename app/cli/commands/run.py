"""`daka run`: the terminal."""

from __future__ import annotations

import sys

from loguru import logger

import app
from app.cli.common import EXIT_USAGE, load


def register(sub) -> None:
    run = sub.add_parser(
        "run", help="start the terminal (camera, clock-in screen and the admin web pages)",
        description="Start the terminal: the camera, the clock-in screen and the admin web pages. The admin "
                    "listens on [admin] host and port (default every address, port 8080); the log names its "
                    "address on the local network. First login: while no administrator exists, open "
                    "http://<this terminal>:8080/setup and enter the setup code shown on the terminal's screen "
                    "(also in the log and in setup_code.txt in the instance folder), or run "
                    "`daka admin create-user NAME --role admin`.")
    run.add_argument("--source", help="camera source URL or a picture/video file (overrides [camera] source)")
    run.add_argument("--headless", action="store_true",
                     help="no window (camera, vision, scheduler and admin only)")
    run.set_defaults(handler=cmd_run)


def cmd_run(args) -> int:
    from app.kiosk.runner import run_terminal  # lazy: Kivy, OpenCV, the store

    instance, config = load(args)
    logger.info("Daka {} starting, instance {}", app.__version__, instance.root)
    try:
        return run_terminal(config, instance, source=args.source, headless=args.headless)
    except (FileNotFoundError, ValueError) as exc:   # a bad --source (CameraUrlError is a ValueError)
        print(f"daka: {exc}", file=sys.stderr)
        return EXIT_USAGE

"""`daka`: one entry point. JSON goes to stdout; progress and logs go to stderr.

This module assembles the parser from the topic modules in app/cli/commands/ (each registers its
subcommands and binds them to the functions that run them), then dispatches inside the stop-signal
handlers and turns the known errors into exit codes. It is a composition root: app/cli may import
both ``app`` and ``admin`` (see docs/architecture.md).
"""

from __future__ import annotations

import argparse
import sys

from app.cli.commands import admin, bench, doctor, fleet, hw, library, models, run
from app.cli.commands import eval as evaluation
from app.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from app.cli.signals import StopRequested, raise_on_stop_signals
from app.config import ConfigError
from app.fonts import FontError
from app.instance import InstanceError
from app.logs import close_logging
from app.models import ModelError

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_USAGE", "main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="daka", description="Daka (打卡) face-recognition clock-in terminal",
        epilog="Getting started: `daka doctor` checks the installation and says what to fix; `daka run` starts "
               "the terminal and logs the admin's address (http://<this terminal>:8080/): open it in a browser "
               "on the same network and create the administrator with the setup code shown on the "
               "terminal's screen; then enrol staff there or with `daka enroll DIR`.")
    p.add_argument("--instance", metavar="DIR", default=None,
                   help="instance folder (config, database, photos, journal); default $DAKA_INSTANCE "
                        "or the platform default")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The order here is the order `daka --help` lists them in.
    run.register(sub)
    doctor.register(sub)
    models.register(sub)
    bench_suites = bench.register(sub)
    hw.register(sub)
    evaluation.register(sub)
    library.register(sub)
    admin.register(sub, bench_suites)
    fleet.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with raise_on_stop_signals():
            return args.handler(args)
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
        close_logging()


if __name__ == "__main__":
    sys.exit(main())

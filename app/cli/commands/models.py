"""`daka models install|list`: the model files."""

from __future__ import annotations

import json

from app.cli.common import EXIT_OK, load, resolve_models


def register(sub) -> None:
    models = sub.add_parser("models", help="model files")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    install = msub.add_parser("install", help="verify the weights and build the ONNX descriptor graph")
    install.add_argument("--force", action="store_true", help="rebuild even when current")
    install.set_defaults(handler=cmd_install)
    listing = msub.add_parser("list", help="print the verified model paths as JSON")
    listing.set_defaults(handler=cmd_list)


def cmd_install(args) -> int:
    from app.models.install import install_models  # lazy: numpy, onnx, the native core

    _, config = load(args, create=False)
    install_models(config.models.dir or None, force=args.force)
    return EXIT_OK


def cmd_list(args) -> int:
    _, config = load(args, create=False)
    models = resolve_models(config)
    listed = {k: str(v) for k, v in models.files.items()}
    if models.faceres:
        listed["faceres"] = str(models.faceres)
    print(json.dumps(listed, indent=2))
    return EXIT_OK

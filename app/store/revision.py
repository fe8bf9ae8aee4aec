"""Write a new Alembic revision from the difference between the models and the migrations.

Usage (repository root): ``.venv/bin/python -m app.store.revision "what changed"``. The
revision is generated against a throw-away SQLite database migrated to the newest revision.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    from flask_migrate import migrate, upgrade

    from app.config import load_config
    from app.instance import Instance

    from .setup import MIGRATIONS_DIR, create_store_app

    if len(argv) != 1:
        print("usage: python -m app.store.revision MESSAGE", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        instance = Instance(Path(tmp)).prepare()
        app = create_store_app(load_config(instance), instance)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
            migrate(directory=str(MIGRATIONS_DIR), message=argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

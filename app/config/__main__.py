"""``python -m app.config {markdown|default|check DIR}`` (see :func:`app.config.render._main`).

A composition root, like the CLI's entry point: docs/config.md lists the run-time settings,
which the registry above the config declares (``app/services/settings.py``), so this script
hands them to the renderer; the config package itself never imports the services.
"""

import sys

from app.config.render import _main
from app.services.settings import runtime_docs

raise SystemExit(_main(sys.argv[1:], runtime_docs()))

"""``python -m app.config {markdown|default|check DIR}`` (see :func:`app.config.render._main`)."""

import sys

from app.config.render import _main
from app.config.schema import RUNTIME_KEYS

raise SystemExit(_main(sys.argv[1:], [(key, True) for key in RUNTIME_KEYS]))

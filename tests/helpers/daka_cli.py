"""`daka` run as a user runs it: a subprocess on an instance folder, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys


def daka(*args, instance, env=None, timeout=300):
    full_env = {**os.environ, "DAKA_INSTANCE": str(instance), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)

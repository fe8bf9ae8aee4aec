"""Fixtures of the services tests (app/services): loguru to each test, since the terminal's threads log."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loguru_to_this_test(loguru_to_this_test):
    """Every services test logs to its own stderr (tests/conftest.py)."""

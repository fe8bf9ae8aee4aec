"""Fixtures of the fleet's tests: a centre on the session's throw-away PostgreSQL cluster."""

from __future__ import annotations

import pytest

from tests.helpers.fleet import make_centre


@pytest.fixture
def fleet_centre(postgres_server, tmp_path):
    """A fresh centre database with two terminal roles (tests/helpers/fleet.py)."""
    return make_centre(postgres_server, tmp_path, terminals=2)

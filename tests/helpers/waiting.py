"""Polling helper shared by the tests of threads and devices."""

from __future__ import annotations

import time

import pytest


def wait_for(predicate, timeout: float, step: float = 0.01) -> float:
    """Seconds until predicate() is true; fails the test after ``timeout``."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - t0

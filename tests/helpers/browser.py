"""A real headless Chromium for the admin's browser tests (Debian's chromium + chromium-driver,
driven by Selenium), and the small waits every such test needs.

Screenshots go to test-artifacts/<folder>/ (not committed). The driver's implicit wait is 60 s: on
a loaded shared machine an enrolment can take seconds, so it is a correctness deadline, not a
timing; an element expected to be ABSENT is looked up with :func:`absent_or_found`, which does not
wait.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
IMPLICIT_WAIT_S = 60


@contextmanager
def chromium(*, window: tuple[int, int] = (1280, 900), downloads: Path | None = None,
             artifacts: str = "admin-browser") -> Iterator:
    """A headless Chromium (zh-CN) that saves downloads in ``downloads``; skips without Chromium."""
    if not (CHROMIUM and DRIVER):
        pytest.skip("Debian's chromium and chromium-driver are needed (scripts/install_system_deps.sh)")
    # Selenium is a test-only dependency imported where a browser test runs.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={window[0]},{window[1]}", "--lang=zh-CN"):
        opts.add_argument(arg)
    if downloads is not None:
        downloads.mkdir(parents=True, exist_ok=True)
        opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                               "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.implicitly_wait(IMPLICIT_WAIT_S)
    driver.downloads = downloads
    driver.artifacts = ARTIFACTS / artifacts
    driver.artifacts.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def admin_server(app) -> Iterator:
    """The admin app served by the real waitress server on a loopback port."""
    from admin.server import AdminServer

    srv = AdminServer(app, "127.0.0.1", 0, threads=4).start()
    try:
        yield srv
    finally:
        srv.stop()


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(driver.artifacts / f"{name}.png"))


def wait_for(predicate, timeout: float = 60.0):
    """Poll until predicate() is truthy; elements replaced by a page load meanwhile are looked up again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = predicate()
        except (StaleElementReferenceException, NoSuchElementException):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def absent_or_found(driver, by, selector) -> list:
    """The elements present now, without the implicit wait (which would hold an element expected
    to be absent for its whole deadline)."""
    driver.implicitly_wait(0)
    try:
        return driver.find_elements(by, selector)
    finally:
        driver.implicitly_wait(IMPLICIT_WAIT_S)


def fits(driver) -> bool:
    """Nothing wider than the window: no sideways scrolling on a phone."""
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")

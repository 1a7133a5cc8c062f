"""A real headless Chromium (Debian's ``chromium`` and ``chromedriver``) driven by Selenium,
and the e2e ``platform`` fixture, for the console's tests.

Without the browser the tests are skipped, except under CI (``CI`` set), where that is a
failure (``make browser`` installs it). Screenshots go to ``$FAAS_TEST_OUTPUT/console``
(default ``.test-output/console`` at the repository's root), for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.conftest import (
    Platform,
    StartPlatform,
    platform,  # noqa: F401 (the e2e fixture, made available here)
)
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

__all__ = ["Platform", "StartPlatform"]

_ROOT = Path(__file__).resolve().parents[2]
#: Seconds the browser may take to load a page or run a script.
PAGE_TIMEOUT = 30.0


def _find(*names: str) -> str | None:
    for name in names:
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture
def screenshots() -> Path:
    """Where this run's screenshots go (kept after the run, for a person to look at)."""
    folder = Path(os.environ.get("FAAS_TEST_OUTPUT", _ROOT / ".test-output")) / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """A headless Chromium, 1280x900, closed at the end."""
    chromium = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver")
    if chromium is None or driver_path is None:
        message = "Debian's chromium and chromium-driver are missing: run `make browser`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container: Chromium's own sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()

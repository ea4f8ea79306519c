"""A headless Chromium driven by selenium, for the review page's tests.

The browser is Debian's `chromium` with its `chromium-driver` (scripts/ensure-browser.sh
installs them; CI runs it first). A missing browser is a failure, not a skip: these
tests are the page's only proof that it works in a browser.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import REPO
from tests.harness.bundle_samples import run_bundle

CHROMIUM = Path(os.environ.get("CODEX_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CODEX_CHROMEDRIVER", "/usr/bin/chromedriver"))
PAGE_LOAD_TIMEOUT_S = 30
WINDOW = (1280, 1600)


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[Path, Path]:
    """Chromium and its driver, installed by scripts/ensure-browser.sh when missing."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        subprocess.run(
            ["bash", str(REPO / "scripts" / "ensure-browser.sh")], check=True, timeout=900
        )
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def browser(
    browser_binaries: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session (as root: --no-sandbox), no network use."""
    chromium, chromedriver = browser_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's bundle: the seed and traversal matrices, and one failing case."""
    return run_bundle(
        tmp_path_factory.mktemp("real-run"),
        REPO / "matrices" / "mocked.yaml",
        REPO / "matrices" / "traversal.yaml",
    )

"""A headless Chromium driven by selenium, for the review page's tests.

The browser is Debian's `chromium` with its `chromium-driver` (scripts/ensure-browser.sh
installs them; CI runs it first). A missing browser is a failure, not a skip: these
tests are the page's only proof that it works in a browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from pytest_codex import review
from tests.conftest import REPO, Orchestrator

CHROMIUM = Path(os.environ.get("CODEX_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CODEX_CHROMEDRIVER", "/usr/bin/chromedriver"))
PAGE_LOAD_TIMEOUT_S = 30
WINDOW = (1280, 1600)
RUN_TIMEOUT_S = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives a headless Chromium (scripts/ensure-browser.sh; these never skip)",
    )


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


WRONG_MATRIX = (
    "name: wrong\ncases:\n"
    "  - name: expects-teapot\n"
    "    request: {path: /healthz}\n"
    "    expect: {status: 418, json: {status: broken}}\n"
)


def run_bundle(root: Path, *matrices: Path) -> Path:
    """A real mocked run (the reference orchestrator as a process, the plugin with
    --codex-base-url) over `matrices` plus one failing case; its bundle, with index.html."""
    (root / "orchestrator").mkdir(parents=True)
    (root / "matrices").mkdir()
    (root / "matrices" / "wrong.yaml").write_text(WRONG_MATRIX)
    server = Orchestrator(root / "orchestrator").start()
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--codex-mode=mocked",
                f"--codex-base-url={server.url}",
                "--codex-evidence-dir=evidence",
                *(f"--codex-matrix={path}" for path in matrices),
                "--codex-matrix=matrices",
                "-q",
            ],
            cwd=root,
            check=False,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
    finally:
        server.stop()
    [bundle] = sorted((root / "evidence").glob("*/mocked"))
    if not (bundle / review.INDEX).exists():  # until finalize writes it
        review.write_review(bundle)
    return bundle


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's bundle: the seed and traversal matrices, and one failing case."""
    return run_bundle(
        tmp_path_factory.mktemp("real-run"),
        REPO / "matrices" / "mocked.yaml",
        REPO / "matrices" / "traversal.yaml",
    )

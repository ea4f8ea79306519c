"""Repository-level pytest configuration: the markers the project's own tests use
(pytester is enabled by `-p pytester` in pyproject.toml's addopts: a `pytest_plugins` here
would break runs that name a matrix under this folder from another rootdir). The plugin
itself (pytest_codex) is loaded through its pytest11 entry point."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: needs a running Docker engine (CI ensures one; these never skip)"
    )
    config.addinivalue_line(
        "markers",
        "browser: drives a headless Chromium (scripts/ensure-browser.sh; these never skip)",
    )

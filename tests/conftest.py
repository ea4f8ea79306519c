"""Fixtures shared by the project's own tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The folders whose every test needs a Docker engine or a headless browser: their tests get
# the `docker` or `browser` marker here, so `-m "not docker and not browser"` (the fast
# tier: `bash scripts/test.sh --fast`) leaves them out. A Docker test elsewhere carries the
# marker itself (tests/harness/test_images.py).
MARKED_FOLDERS = {"docker": "tests/docker/", "browser": "tests/browser/"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker, folder in MARKED_FOLDERS.items():
            if item.nodeid.startswith(folder):
                item.add_marker(marker)


# Pytest plugins that this project's dev tools install and no user of the harness needs:
# hypothesis alone costs ~1.4 s of CPU at every pytest start. A pytester run leaves them
# out (as bench/common.py's runs do), which halves the fast tier's CPU time.
DEV_TOOL_PLUGINS = ("hypothesispytest", "schemathesis", "anyio")


@pytest.fixture(autouse=True)
def _pytester_runs_without_dev_tool_plugins(request: pytest.FixtureRequest) -> None:
    """A test that uses pytester runs pytest without DEV_TOOL_PLUGINS (set after
    pytester's own set-up, which clears PYTEST_ADDOPTS)."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        request.getfixturevalue("monkeypatch").setenv(
            "PYTEST_ADDOPTS", " ".join(f"-p no:{name}" for name in DEV_TOOL_PLUGINS)
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"orchestrator exited with {process.returncode}")
        # urllib, not httpx: pytester restores sys.modules after each test, which breaks
        # httpx's lazily built map of httpcore exceptions in this process.
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url}/healthz did not answer within {timeout} s")


class Orchestrator:
    """The reference orchestrator as a plain process on an ephemeral port."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.workspace_root = root / "workspaces"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "orchestrator.log"
        self.env = {
            **os.environ,
            "WORKSPACE_ROOT": str(self.workspace_root),
            "DATABASE_URL": f"sqlite:///{root / 'orchestrator.db'}",
            "USE_DUMMY_WORKER": "true",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Orchestrator:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest_codex_orchestrator",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        wait_healthy(self.url, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    """A fresh orchestrator process (mocked worker) for one test."""
    root = tmp_path / "orchestrator"
    root.mkdir()
    server = Orchestrator(root)
    try:
        yield server.start()
    finally:
        server.stop()


# The seed plan's instruction and the exact files the mocked worker makes for it.
FIBONACCI = (
    "Create a Python CLI app that prints the first 10 Fibonacci numbers, "
    "with a README and a pytest test."
)
SEED_FILES = [
    ".codex/request.json",
    ".codex/result.json",
    "README.md",
    "app.py",
    "tests/test_cli.py",
]

"""The live parts on the host: the model stand-in as a real process, and the real Codex
CLI binary taken from the pinned wheel (downloaded by service/fill-wheelhouse.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port

CLI_CACHE = REPO / ".cache" / "codex-cli"
STUB_KEY = "sk-canary-stub-key-4d9e2f"


@dataclass
class Stub:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_stub/requests", timeout=5) as answer:
            body: dict[str, list[dict[str, Any]]] = json.loads(answer.read())
        return body["requests"]


@pytest.fixture(scope="session")
def model_stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stub]:
    """The Responses API stand-in (`python -m pytest_codex_model_stub`) expecting STUB_KEY."""
    port = free_port()
    log = tmp_path_factory.mktemp("stub") / "stub.log"
    env = {**os.environ, "MODEL_STUB_EXPECTED_KEY": STUB_KEY, "PYTHONPATH": str(REPO / "service")}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest_codex_model_stub", "serve", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"model stub did not start: {log.read_text()}") from None
            time.sleep(0.05)
    yield Stub(url, process, log)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def codex_binary() -> Path:
    """The real `codex` binary from the pinned wheel, extracted once with its exec bits."""
    subprocess.run(
        ["bash", str(REPO / "service/fill-wheelhouse.sh"), "--worker"], check=True, timeout=900
    )
    [wheel] = sorted((REPO / "service/worker/wheels").glob("openai_codex_cli_bin-*.whl"))
    binary = CLI_CACHE / wheel.stem / "codex_cli_bin" / "bin" / "codex"
    if not binary.is_file():
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                archive.extract(info, CLI_CACHE / wheel.stem)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    (CLI_CACHE / wheel.stem / info.filename).chmod(mode)
    return binary

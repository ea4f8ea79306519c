"""The FastAPI orchestrator of tests/byo/ run by uvicorn as a real process on an
ephemeral loopback port (its own behaviour tests and the plugin's --codex-base-url run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import REPO, free_port

BYO = REPO / "tests" / "byo"
READY_TIMEOUT_S = 30.0  # uvicorn answers /openapi.json within a second or two here
STOP_TIMEOUT_S = 10.0


class ByoServer:
    """uvicorn serving tests/byo/app/main.py with its workspaces under `workspace_root`."""

    def __init__(self, workspace_root: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.workspace_root = workspace_root
        self.env = env or {}
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ByoServer:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "--app-dir",
            str(BYO / "app"),
            "main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, "WORKSPACE_ROOT": str(self.workspace_root), **self.env}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/openapi.json", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.url}/openapi.json not ready in {READY_TIMEOUT_S} s")

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def byo_server(root: Path, env: dict[str, str] | None = None) -> Iterator[ByoServer]:
    """A running ByoServer with its workspaces in `root/workspaces`, stopped on exit;
    `env` adds to its environment (e.g. BYO_INSECURE_PATHS=1)."""
    workspace_root = root / "workspaces"
    workspace_root.mkdir(parents=True, exist_ok=True)
    server = ByoServer(workspace_root, root / "uvicorn.log", env)
    try:
        yield server.start()
    finally:
        server.stop()

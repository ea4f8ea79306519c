"""Compose helpers the harness needs beyond pytest-docker: finding the compose command,
running it with argument lists, reading service logs, probing health, and looking at the
bind-mounted workspaces. No pytest import here.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

OUTSIDE_CANARY_NAME = "OUTSIDE-CANARY.txt"
DEFAULT_SERVICE = "orchestrator"
DEFAULT_PORT = 8000
COMMAND_TIMEOUT = 600.0


class StackError(Exception):
    """The stack could not be started, reached or stopped; the text says why."""


def detect_compose_command() -> tuple[str, ...]:
    """Compose v2 (`docker compose`) where present, `docker-compose` v1 otherwise."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return ("docker", "compose")
    if shutil.which("docker-compose") is not None:
        return ("docker-compose",)
    raise StackError(
        "compose: neither `docker compose` nor `docker-compose` was found; "
        "install one (scripts/ensure-docker.sh does) or pass --codex-base-url"
    )


@dataclass(frozen=True)
class Compose:
    """One compose project: its command, files, name and the environment it sees."""

    command: tuple[str, ...]
    files: tuple[Path, ...]
    project: str
    env: Mapping[str, str] = field(default_factory=dict)

    def argv(self, *args: str) -> list[str]:
        argv = list(self.command)
        for path in self.files:
            argv += ["-f", str(path)]
        return [*argv, "-p", self.project, *args]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a compose subcommand; its combined output, or StackError with the tail."""
        try:
            done = subprocess.run(
                self.argv(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(self.env),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StackError(f"compose {args[0]}: no answer within {timeout:.0f} s") from None
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise StackError(f"compose {shlex.join(args)} failed:\n{tail(output, 30)}")
        return output

    def logs(self) -> str:
        """All service logs (best effort: a failure is reported in the text)."""
        try:
            return self.run("logs", "--no-color", "--timestamps", timeout=60)
        except StackError as error:
            return f"[logs unavailable: {error}]\n"


class LogFollower:
    """`compose logs -f` from start to teardown: the logs come at no extra cost at the end,
    and hold the services' last lines too (the follower ends when `down` stops them)."""

    def __init__(self, compose: Compose) -> None:
        self.compose = compose
        self.process: subprocess.Popen[bytes] | None = None
        self.sink: IO[bytes] | None = None

    def start(self) -> None:
        self.sink = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish()
        self.process = subprocess.Popen(
            self.compose.argv("logs", "--no-color", "--timestamps", "-f"),
            stdout=self.sink,
            stderr=subprocess.STDOUT,
            env=dict(self.compose.env),
        )

    def finish(self, timeout: float = 15.0) -> str | None:
        """The logs followed (None when it never started); call after `down`."""
        if self.process is None or self.sink is None:
            return None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.sink.seek(0)
        text = self.sink.read().decode("utf-8", "replace")
        self.sink.close()
        return text


def tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def probe(base_url: str, timeout: float = 2.0, path: str = "/healthz") -> bool:
    """Whether `GET <path>` answers 2xx (the target's readiness)."""
    try:
        return 200 <= httpx.get(f"{base_url}{path}", timeout=timeout).status_code < 300
    except httpx.HTTPError:
        return False


def health(base_url: str, timeout: float, path: str = "/healthz") -> dict[str, object]:
    """The orchestrator's readiness document (empty when it is not JSON)."""
    try:
        body = httpx.get(f"{base_url}{path}", timeout=timeout).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def docker_server_version() -> str:
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return done.stdout.strip() or "unavailable"


def plant_outside_canary(workspace_root: Path) -> str:
    """Write a file beside the project workspaces (inside the mount, outside every
    project) whose content must never come back from the API; returns that content."""
    workspace_root.mkdir(parents=True, exist_ok=True)
    content = f"pytest-codex-outside-canary-{secrets.token_hex(8)}"
    (workspace_root / OUTSIDE_CANARY_NAME).write_text(content + "\n")
    return content


PROJECT_ID = re.compile(r"[0-9a-f]{32}")


def project_ids(workspace_root: Path) -> list[str]:
    """The project workspaces below the root (not `.jobs/` or other bookkeeping)."""
    if not workspace_root.is_dir():
        return []
    return sorted(
        p.name
        for p in workspace_root.iterdir()
        if PROJECT_ID.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    )


def listing(workspace: Path) -> list[dict[str, object]]:
    """Regular files below a workspace with their sizes, not following symlinks."""
    entries: list[dict[str, object]] = []
    for path in sorted(workspace.rglob("*")):
        if path.is_file() and not path.is_symlink():
            entries.append(
                {"path": path.relative_to(workspace).as_posix(), "size": path.stat().st_size}
            )
    return entries


def read_result(workspace: Path) -> object | None:
    path = workspace / ".codex" / "result.json"
    try:
        loaded: object = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded


def shell_command(command: Sequence[str]) -> str:
    """The compose command as the shell string pytest-docker expects."""
    return shlex.join(command)

"""Compose helpers the harness needs beyond pytest-docker: finding the compose command,
running it with argument lists, reading service logs, probing health, and looking at the
bind-mounted workspaces. Bounded against a hostile target: health answers through rawhttp
(a deadline and MAX_HEALTH_BODY), workspace walks with an explicit stack (MAX_WALK_DEPTH,
MAX_WALK_ENTRIES), never through a symlink. No pytest import here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from pytest_codex.cases import rawhttp
from pytest_codex.config.settings import DEFAULT_HEALTH_PATH
from pytest_codex.target import docker
from pytest_codex.target.docker import StackError, tail

__all__ = ["Compose", "LogFollower", "StackError", "tail"]  # StackError, tail: re-exported

OUTSIDE_CANARY_NAME = "OUTSIDE-CANARY.txt"
COMMAND_TIMEOUT = 600.0
VERSION_TIMEOUT = 30.0  # `docker version`, `docker compose version`
HEALTH_PATH = DEFAULT_HEALTH_PATH  # the target description owns the default
MAX_HEALTH_BODY = 1024 * 1024  # bytes of a health answer read; more is a failed probe
MAX_WALK_DEPTH = 64  # folders below a workspace that a listing goes down
MAX_WALK_ENTRIES = 100_000  # entries a listing (or the root's scan) looks at in all
MAX_RESULT_BYTES = 4 * 1024 * 1024  # largest result.json read
PROJECT_LABEL = "com.docker.compose.project"  # set by compose v1 and v2 on each container
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"  # "True" on `compose run` containers
NOT_IN_PROJECT_LABEL = re.compile(r"[^-_a-z0-9]")


def detect_compose_command() -> tuple[str, ...]:
    """Compose v2 (`docker compose`) where present, `docker-compose` v1 otherwise."""
    if shutil.which("docker") is not None:
        probe = docker.docker("compose", "version", timeout=VERSION_TIMEOUT, check=False)
        if probe.returncode == 0:
            return ("docker", "compose")
    if shutil.which("docker-compose") is not None:
        return ("docker-compose",)
    raise StackError(
        "compose: neither `docker compose` nor `docker-compose` was found; "
        "install one (scripts/ensure-docker.sh does) or pass --codex-base-url"
    )


def project_label(project: str) -> str:
    """A compose project name as compose v1 labels its containers and networks with it."""
    return NOT_IN_PROJECT_LABEL.sub("", project.lower())


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

    @property
    def label(self) -> str:
        """The project as compose writes it into its labels: compose v1 lowercases `-p`
        and drops every character but `a-z0-9_-` (v2 refuses such names outright)."""
        return project_label(self.project)

    def running(self, service: str) -> list[str]:
        """The ids of the service's running containers, found by compose's own labels
        (one-off `compose run` containers left out, as `compose ps` does): one `docker
        ps` (~10 ms) where a compose subcommand costs a process start (~0.4 s, v1)."""
        return self._containers(service, "-q")

    def containers(self, service: str) -> list[str]:
        """The ids of the service's containers, running or not (see `running`)."""
        return self._containers(service, "-aq")

    def _containers(self, service: str, flags: str) -> list[str]:
        listed = docker.docker(
            "ps", flags,
            "--filter", f"label={PROJECT_LABEL}={self.label}",
            "--filter", f"label={SERVICE_LABEL}={service}",
            "--filter", f"label={ONEOFF_LABEL}=False",
            timeout=VERSION_TIMEOUT,
        )  # fmt: skip
        return listed.stdout.split()

    def published_port(self, service: str, port: int) -> int:
        """The host port a running container of the service publishes `port/tcp` on (the
        first that does; `docker port`: what `compose port` says, without a compose
        process); StackError when none does."""
        for container in self.running(service):
            listed = docker.docker(
                "port", container, f"{port}/tcp", timeout=VERSION_TIMEOUT, check=False
            )
            published = listed.stdout.split() if listed.returncode == 0 else []
            if published:
                return int(published[0].rsplit(":", 1)[1])
        raise StackError(f"no running container of {service!r} publishes {port}/tcp")

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a compose subcommand; its combined output, or StackError with the tail."""
        done = docker.run(
            self.argv(*args), timeout=timeout, where=f"compose {shlex.join(args)}", env=self.env
        )
        return done.stdout + done.stderr

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


PORT_CLASH = re.compile(
    r"(?:Bind for|listen tcp[46]?) (\S+?:\d+)(?: failed: port is already allocated"
    r"|: bind: address already in use)"
)


def port_clash_hint(output: str) -> str:
    """A line for compose output that says a fixed host port is taken, else ""."""
    found = PORT_CLASH.search(output)
    if found is None:
        return ""
    return (
        f"\nhint: host port {found.group(1)} is already taken (another stack or process "
        "listens on it); publish an ephemeral host port instead (ports: "
        '["127.0.0.1::8000"]: the harness finds it) or stop what holds it'
    )


def workspace_mount(compose: Compose, service: str, root: Path) -> bool | None:
    """Whether `service`'s container sees `root` at the same path (a bind mount of it or
    of a folder above it, Source = Destination), so that what the harness plants and
    reads there is what the service sees; None when that cannot be told."""
    try:
        ids = compose.running(service)
        if not ids:
            return None
        done = docker.docker("inspect", "--format", "{{json .Mounts}}", ids[-1], timeout=60)
        mounts = json.loads(done.stdout)
    except (StackError, ValueError):
        return None
    if not isinstance(mounts, list):
        return None
    wanted = Path(os.path.realpath(root))
    for mount in mounts:
        if not isinstance(mount, dict) or mount.get("Type") != "bind":
            continue
        source = str(mount.get("Source", ""))
        if source and source == mount.get("Destination"):
            folder = Path(os.path.realpath(source))
            if wanted == folder or folder in wanted.parents:
                return True
    return False


def probe(base_url: str, timeout: float = 2.0, path: str = HEALTH_PATH) -> bool:
    """Whether `GET <path>` answers 2xx (the target's readiness) within `timeout` seconds
    in all (a slow, endless or huge answer is a no, never a hang)."""
    try:
        return 200 <= _get(base_url, path, timeout).status < 300
    except rawhttp.RawHttpError:
        return False


def health(base_url: str, timeout: float, path: str = HEALTH_PATH) -> dict[str, object]:
    """The orchestrator's health document (empty when it is not JSON, not an object, or
    not there within `timeout` seconds and MAX_HEALTH_BODY bytes)."""
    try:
        body = _get(base_url, path, timeout).json()
    except (rawhttp.RawHttpError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _get(base_url: str, path: str, timeout: float) -> rawhttp.Exchange:
    prefix = urlsplit(base_url).path.rstrip("/")
    return rawhttp.send(
        base_url, "GET", prefix + path, timeout=timeout, deadline=timeout, max_body=MAX_HEALTH_BODY
    )


def docker_server_version() -> str:
    try:
        done = docker.docker(
            "version", "--format", "{{.Server.Version}}", timeout=VERSION_TIMEOUT, check=False
        )
    except StackError:
        return "unavailable"
    return done.stdout.strip() or "unavailable"


def plant_outside_canary(workspace_root: Path) -> str:
    """Write a file beside the project workspaces (inside the mount, outside every
    project) whose content must never come back from the API; returns that content."""
    workspace_root.mkdir(parents=True, exist_ok=True)
    content = f"pytest-codex-outside-canary-{secrets.token_hex(8)}"
    (workspace_root / OUTSIDE_CANARY_NAME).write_text(content + "\n")
    return content


def project_ids(workspace_root: Path, max_entries: int = MAX_WALK_ENTRIES) -> list[str]:
    """The project workspaces: every folder directly below the root, whatever its id
    format, except hidden bookkeeping (`.jobs/`), symlinks and the outside canary; at
    most `max_entries` entries of the root are looked at."""
    found = []
    try:
        with os.scandir(workspace_root) as entries:
            for count, entry in enumerate(entries):
                if count >= max_entries:
                    break
                if (
                    not entry.name.startswith(".")
                    and entry.name != OUTSIDE_CANARY_NAME
                    and entry.is_dir(follow_symlinks=False)
                ):
                    found.append(entry.name)
    except OSError:
        return []
    return sorted(found)


def listing(
    workspace: Path, max_depth: int = MAX_WALK_DEPTH, max_entries: int = MAX_WALK_ENTRIES
) -> list[dict[str, object]]:
    """Regular files below a workspace with their sizes, walked with an explicit stack
    (no recursion), never through a symlink. What the limits leave out is named:
    `{"path": <folder>, "skipped": <why>}` (deeper than `max_depth` folders, more than
    `max_entries` entries in all, or a folder that cannot be read)."""
    files: list[dict[str, object]] = []
    skipped: list[dict[str, object]] = []
    pending: list[tuple[str, int]] = [("", 0)]
    seen = 0
    while pending:
        relative, depth = pending.pop()
        if depth > max_depth:
            skipped.append({"path": relative, "skipped": f"deeper than {max_depth} folders"})
            continue
        try:
            with os.scandir(workspace / relative if relative else workspace) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        skipped.append(
                            {"path": relative, "skipped": f"over {max_entries} entries in all"}
                        )
                        pending.clear()
                        break
                    path = f"{relative}/{entry.name}" if relative else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((path, depth + 1))
                    elif entry.is_file(follow_symlinks=False):
                        with contextlib.suppress(OSError):  # gone in the meantime
                            size = entry.stat(follow_symlinks=False).st_size
                            files.append({"path": path, "size": size})
        except OSError as error:
            skipped.append({"path": relative, "skipped": f"unreadable ({error.strerror})"})
    return sorted(files, key=lambda e: str(e["path"])) + sorted(
        skipped, key=lambda e: str(e["path"])
    )


def read_result(workspace: Path, max_bytes: int = MAX_RESULT_BYTES) -> object | None:
    """`.codex/result.json` parsed, or None when it is missing, not JSON, over
    `max_bytes`, not a regular file, or reached through a symlink (a worker could plant
    one pointing at the harness's own files)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    descriptors: list[int] = []
    try:
        descriptors.append(os.open(workspace, flags | os.O_DIRECTORY))
        descriptors.append(os.open(".codex", flags | os.O_DIRECTORY, dir_fd=descriptors[-1]))
        # O_NONBLOCK: a FIFO planted there must not block the open.
        descriptors.append(os.open("result.json", flags | os.O_NONBLOCK, dir_fd=descriptors[-1]))
        status = os.fstat(descriptors[-1])
        if not stat.S_ISREG(status.st_mode) or status.st_size > max_bytes:
            return None
        with os.fdopen(descriptors.pop(), "rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            return None
        loaded: object = json.loads(data)
    except (OSError, ValueError):
        return None
    finally:
        for descriptor in descriptors:
            os.close(descriptor)
    return loaded


def shell_command(command: Sequence[str]) -> str:
    """The compose command as the shell string pytest-docker expects."""
    return shlex.join(command)

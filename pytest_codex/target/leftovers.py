"""Leftovers of killed runs: compose projects (and their worker containers) that a run
of this machine started and could not tear down, found by name and removed at the next
start. A run's compose project is `pytest-codex-<host>-<pid>-<hex>` (its rollback's
`...-rollback`), `<host>` a short hash of this machine's name and boot; it is a leftover
when it is this host's and no process with that pid is alive (a run in another container
or machine sharing the engine is never touched). No pytest import here.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path

from pytest_codex.target import docker

# A run's project, or its rollback's mocked stack (rollback_stack.SUFFIX).
PROJECT = re.compile(r"pytest-codex-([0-9a-f]{6})-(\d+)-[0-9a-f]+(?:-rollback)?")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
COMPOSE_LABEL = "com.docker.compose.project"
RUN_LABEL = "io.pytest-codex.run"
TIMEOUT = 60


def _docker(*argv: str) -> list[str]:
    """The words docker printed; none when it failed (housekeeping never stops a run)."""
    try:
        return docker.docker(*argv, timeout=TIMEOUT).stdout.split()
    except docker.StackError:
        return []


def host_tag() -> str:
    """Six hex digits naming this host (and boot): where a run's pid means something."""
    boot = BOOT_ID.read_text().strip() if BOOT_ID.exists() else ""
    return hashlib.sha256(f"{socket.gethostname()}/{boot}".encode()).hexdigest()[:6]


def project_name() -> str:
    """A new run's compose project name."""
    return f"pytest-codex-{host_tag()}-{os.getpid()}-{secrets.token_hex(3)}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_projects() -> set[str]:
    """Names of every pytest-codex compose project with a container, network or volume."""
    names: set[str] = set()
    fmt = '{{.Label "' + COMPOSE_LABEL + '"}}'
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        names.update(_docker(*kind, "--filter", f"label={COMPOSE_LABEL}", "--format", fmt))
    names.update(
        _docker(
            "ps",
            "-a",
            "--filter",
            f"label={RUN_LABEL}",
            "--format",
            '{{.Label "' + RUN_LABEL + '"}}',
        )
    )
    return {name for name in names if PROJECT.fullmatch(name)}


def dead_projects(names: Sequence[str] | set[str]) -> list[str]:
    """This host's projects whose run's process is gone."""
    here = host_tag()
    found = []
    for name in sorted(names):
        match = PROJECT.fullmatch(name)
        if match and match.group(1) == here and not alive(int(match.group(2))):
            found.append(name)
    return found


def remove(project: str) -> None:
    """Every container (the stack's and its workers), network and volume of a project."""
    containers = _docker("ps", "-aq", "--filter", f"label={COMPOSE_LABEL}={project}")
    containers += _docker("ps", "-aq", "--filter", f"label={RUN_LABEL}={project}")
    if containers:
        _docker("rm", "-f", "-v", *sorted(set(containers)))
    networks = _docker("network", "ls", "-q", "--filter", f"label={COMPOSE_LABEL}={project}")
    if networks:
        _docker("network", "rm", *networks)
    volumes = _docker("volume", "ls", "-q", "--filter", f"label={COMPOSE_LABEL}={project}")
    if volumes:
        _docker("volume", "rm", "-f", *volumes)


def remove_workers(project: str) -> list[str]:
    """Remove the containers the run's orchestrator started (its workers, labelled with
    the run) once the stack is down: an orchestrator stopped mid-job leaves them running.
    The ids removed."""
    containers = _docker("ps", "-aq", "--filter", f"label={RUN_LABEL}={project}")
    if containers:
        _docker("rm", "-f", "-v", *sorted(set(containers)))
    return containers


def clean() -> list[str]:
    """Remove the leftovers of killed runs; the project names removed."""
    removed = dead_projects(run_projects())
    # A rollback's stack first: it holds the live project's volumes.
    for project in sorted(removed, reverse=True):
        remove(project)
    return removed

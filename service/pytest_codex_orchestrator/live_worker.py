"""What the two live workers share (`container_worker.ContainerWorker`, one container per
job, and `swarm_worker.SwarmWorker`, one swarm job service per job): the sandbox's user,
the labels a worker is found by, the secrets it is handed (their values come from the
variable or from the file `<VARIABLE>_FILE` names), the result.json it leaves, and the
structured failure written when it leaves none. Values are never logged.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker.errors

from pytest_codex_orchestrator.results import (
    ENV_PRESENCE,
    RESULT_FILE,
    failure_result,
    write_json,
)

SECRET_VARIABLES = ENV_PRESENCE  # the OPENAI_* values: never in a worker's configuration
PLAIN_VARIABLES = ("OPENAI_BASE_URL", "CODEX_MODEL")  # in the worker's configuration
MAX_SECRET_BYTES = 64 * 1024  # a secret file read from `<VARIABLE>_FILE`, at most
WORKER_NAME = "codex-cli"
WORKER_UID = 1000
LABEL = "io.pytest-codex"


class LiveWorker:
    """The settings of a live worker backend and what every backend does alike."""

    name = WORKER_NAME

    def __init__(
        self,
        *,
        image: str,
        workspace_root: Path,
        job_timeout_s: float,
        network: str | None = None,
        memory: str = "1g",
        cpus: float = 1.0,
        pids: int = 256,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.image = image
        self.workspace_root = workspace_root
        self.job_timeout_s = job_timeout_s
        self.network = network
        self.memory = memory
        self.cpus = cpus
        self.pids = pids
        self.environ = os.environ if environ is None else environ

    def labels(self, request: Mapping[str, Any], job_id: str) -> dict[str, str]:
        """The labels a job's worker is found by (its job, its project, the harness's run:
        the harness finds its leftovers by them after a killed run)."""
        return {
            f"{LABEL}.role": "worker",
            f"{LABEL}.job": job_id,
            f"{LABEL}.project": str(request.get("project_id", "")),
            f"{LABEL}.run": self.environ.get("CODEX_RUN_ID", ""),
        }

    def plain_environment(self) -> dict[str, str]:
        """The worker's non-secret variables, with the entrypoint's own time limit, which
        fires before the job timeout so it can still write result.json."""
        environment = {
            name: self.environ[name] for name in PLAIN_VARIABLES if self.environ.get(name)
        }
        environment["CODEX_WORKER_TIMEOUT"] = str(max(5, int(self.job_timeout_s) - 10))
        return environment

    def failure(
        self,
        workspace: Path,
        request: dict[str, Any],
        started: str,
        error_type: str,
        message: str,
        exit_code: int | None = None,
    ) -> dict[str, Any]:
        """A result.json for a job whose worker could not write one itself."""
        result = failure_result(
            request=request,
            worker=WORKER_NAME,
            # Presence only: a secret given as a file counts as present.
            environ={name: "present" for name in secret_values(self.environ)},
            started_at=started,
            error_type=error_type,
            message=message,
            exit_code=exit_code,
        )
        write_json(workspace, RESULT_FILE, result)
        return result


def secret_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The OPENAI_* secrets to hand to a job: from the variable itself, or from the file
    named by `<VARIABLE>_FILE` (how a swarm stack gives them to the orchestrator)."""
    values: dict[str, str] = {}
    for name in SECRET_VARIABLES:
        value = environ.get(name, "")
        source = environ.get(f"{name}_FILE", "")
        if not value and source:
            with contextlib.suppress(OSError), open(source, "rb") as handle:
                value = handle.read(MAX_SECRET_BYTES).decode("utf-8", "replace").strip()
        if value:
            values[name] = value
    return values


def hand_over(workspace: Path) -> None:
    """Give the workspace to the worker's non-root user (the orchestrator runs as root)."""
    if os.geteuid() != 0:
        return
    for path in [workspace, *workspace.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, WORKER_UID, WORKER_UID)


def read_result(workspace: Path) -> dict[str, Any] | None:
    """The result.json the worker wrote; None when it is missing or not a JSON object."""
    try:
        loaded = json.loads((workspace / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def docker_reason(error: docker.errors.DockerException) -> str:
    """The engine's own explanation (no secrets: it never sees values in a message)."""
    explanation = getattr(error, "explanation", None)
    return f"{type(error).__name__}: {explanation or error}"[:300]

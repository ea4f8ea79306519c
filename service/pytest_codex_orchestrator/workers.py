"""What a worker is, and which one a configuration gets.

A worker takes a workspace and the job's request (`.codex/request.json`, already
written by the orchestrator) and returns the result dict it also wrote to
`.codex/result.json` (shape: `pytest_codex_orchestrator.results`). A worker may raise; the
orchestrator then writes a failed result itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pytest_codex_orchestrator.config import Settings
from pytest_codex_orchestrator.container_worker import ContainerWorker
from pytest_codex_orchestrator.dummy_worker import DummyWorker
from pytest_codex_orchestrator.swarm_worker import SwarmWorker


class Worker(Protocol):
    """Runs one job on a workspace."""

    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        """Do the job, write `.codex/result.json` and return the same dict."""
        ...


def select_worker(settings: Settings, environ: Mapping[str, str] | None = None) -> Worker:
    """The worker for `settings`: the in-process dummy in mocked mode, a worker container
    per job (the real Codex CLI) in live mode, or a swarm job service per job when
    CODEX_WORKER_BACKEND=swarm."""
    environ = os.environ if environ is None else environ
    if settings.use_dummy_worker:
        return DummyWorker(environ=environ)
    backend = SwarmWorker if settings.worker_backend == "swarm" else ContainerWorker
    return backend(
        image=settings.worker_image,
        workspace_root=settings.workspace_root,
        job_timeout_s=settings.job_timeout_s,
        network=settings.worker_network,
        environ=environ,
    )

"""What a worker is, and which one a configuration gets.

A worker takes a workspace and the job's request (`.codex/request.json`, already
written by the orchestrator) and returns the result dict it also wrote to
`.codex/result.json` (shape: `codex_orchestrator.results`). A worker may raise; the
orchestrator then writes a failed result itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from codex_orchestrator.config import ConfigError, Settings
from codex_orchestrator.dummy_worker import DummyWorker

LIVE_NOT_BUILT = (
    "USE_DUMMY_WORKER=false needs the container worker (live mode), which is "
    "not part of this build yet; set USE_DUMMY_WORKER=true"
)


class Worker(Protocol):
    """Runs one job on a workspace."""

    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        """Do the job, write `.codex/result.json` and return the same dict."""
        ...


def select_worker(settings: Settings, environ: Mapping[str, str] | None = None) -> Worker:
    """The worker for `settings`: the dummy in mocked mode.

    The seam for live mode: construct the container worker here when
    `settings.use_dummy_worker` is false (image `settings.worker_image`, workspaces under
    `settings.workspace_root`, timeout `settings.job_timeout_s`, `environ` passed on).
    """
    environ = os.environ if environ is None else environ
    if settings.use_dummy_worker:
        return DummyWorker(environ=environ)
    raise ConfigError(LIVE_NOT_BUILT)

"""`.codex/result.json`: one shape for every worker, mocked or live.

    {"status": "success" | "failed", "summary": str, "job_type": "create" | "edit",
     "worker": str, "created_files": [...], "modified_files": [...],
     "logs": {"env": {"OPENAI_API_KEY": "present" | "absent", ...}}, "usage": null | {...},
     "timing": {"started_at": str, "finished_at": str, "duration_ms": int},
     "error": null | {"type": str, "message": str, "exit_code": int | null}}

Secrets are only ever reported as present or absent, never by value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_codex_orchestrator.clock import duration_ms, utc_now

RESULT_KEYS = (
    "status",
    "summary",
    "job_type",
    "worker",
    "created_files",
    "modified_files",
    "logs",
    "usage",
    "timing",
    "error",
)
ENV_PRESENCE = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT")
CODEX_DIR = ".codex"
REQUEST_FILE = f"{CODEX_DIR}/request.json"
RESULT_FILE = f"{CODEX_DIR}/result.json"


def env_presence(environ: Mapping[str, str]) -> dict[str, str]:
    """`present` or `absent` for each secret the worker is given; never a value."""
    return {name: "present" if environ.get(name) else "absent" for name in ENV_PRESENCE}


def make_result(
    *,
    status: str,
    summary: str,
    job_type: str,
    worker: str,
    environ: Mapping[str, str],
    started_at: str,
    finished_at: str | None = None,
    created_files: Sequence[str] = (),
    modified_files: Sequence[str] = (),
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    finished_at = finished_at or utc_now()
    return {
        "status": status,
        "summary": summary,
        "job_type": job_type,
        "worker": worker,
        "created_files": sorted(created_files),
        "modified_files": sorted(modified_files),
        "logs": {"env": env_presence(environ)},
        "usage": usage,
        "timing": {
            "started_at": started_at,
            "finished_at": finished_at,
            "duration_ms": duration_ms(started_at, finished_at),
        },
        "error": error,
    }


def failure_result(
    *,
    request: Mapping[str, Any],
    worker: str,
    environ: Mapping[str, str],
    started_at: str,
    error_type: str,
    message: str,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """The result of a job whose worker could not produce one itself."""
    return make_result(
        status="failed",
        summary=message,
        job_type=str(request.get("job_type", "create")),
        worker=worker,
        environ=environ,
        started_at=started_at,
        error={"type": error_type, "message": message, "exit_code": exit_code},
    )


def write_json(workspace: Path, relative: str, document: Mapping[str, Any]) -> None:
    """Write `document` under the workspace, atomically (a reader never sees half)."""
    target = workspace / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(target)

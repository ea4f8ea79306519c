"""A second orchestrator for pytest-codex to validate: a FastAPI app shaped like the
validation plan's backend, different from the bundled one on purpose (service `backend`,
no /healthz, `project_id` uuids, bare file lists, text/plain files, 202 + polled jobs,
`logs` as a list). Its mocked worker writes a small deterministic project.

    WORKSPACE_ROOT=/tmp/ws uvicorn --factory --app-dir tests/byo/app main:create_app

Projects live on disk (`<WORKSPACE_ROOT>/<project_id>/`); jobs in memory.
BYO_INSECURE_PATHS=1 turns the file path checks off: the project's own tests use it to
prove that the harness catches a target that serves files outside its workspaces.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import unicodedata
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel

DEFAULT_WORKSPACE_ROOT = "/var/tmp/byo/workspaces"
MAX_LISTED_FILES = 10_000  # a listing stops here
MAX_FILE_BYTES = 10 * 1024 * 1024  # a file read answers 413 above this
MAX_DECODE_ROUNDS = 3  # percent-decoding rounds a file path is checked in
JOB_STEP_S = 0.6  # an edit job is queued, then running, then completed: one step each
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_DRIVE = re.compile(r"[A-Za-z]:")
_PERCENT_U = re.compile(r"%u[0-9a-fA-F]{4}")  # IIS-style escapes: never a name here
APP_PY = """\"\"\"Print the first 10 Fibonacci numbers.\"\"\"


def fib(n: int) -> list[int]:
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


if __name__ == "__main__":
    print(*fib(10))
"""


class NewProject(BaseModel):
    instruction: str


class NewJob(BaseModel):
    job_type: Literal["edit"]
    instruction: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_result(
    workspace: Path, job: dict[str, Any], created: list[str], modified: list[str]
) -> None:
    codex = workspace / ".codex"
    codex.mkdir(parents=True, exist_ok=True)
    request = {k: job[k] for k in ("job_id", "job_type", "instruction")}
    (codex / "request.json").write_text(json.dumps(request, indent=2) + "\n")
    result = {
        "status": "success",
        "job_type": job["job_type"],
        "job_id": job["job_id"],
        "project_id": job["project_id"],
        "summary": f"{job['job_type']}: {job['instruction']}",
        "created_files": created,
        "modified_files": modified,
        "logs": [f"mocked worker: {job['job_type']} started", "mocked worker: done"],
        "error": None,
        "started_at": job["created_at"],
        "finished_at": _now(),
    }
    (codex / "result.json").write_text(json.dumps(result, indent=2) + "\n")


def _unsafe(text: str) -> str | None:
    """Why one form of a client's file path could leave the workspace, or None."""
    if any(unicodedata.category(c) == "Cc" or c == "\ufffd" for c in text):
        return "a control character or an undecodable byte"
    if "\\" in text or _PERCENT_U.search(text):
        return "a backslash or a %u escape"
    if text.startswith("/") or _DRIVE.match(text):
        return "an absolute path"
    for segment in text.split("/"):
        core = segment.split(";", 1)[0].rstrip(" ")  # `..;x` is `..` to some servers
        if not segment or set(core) <= {"."}:
            return "an empty or dots-only segment"
    return None


def safe_path(workspace: Path, raw: str) -> Path:
    """The real path `raw` (already percent-decoded once) names inside `workspace`, or 400."""
    forms = [raw, unicodedata.normalize("NFKC", raw)]
    for _ in range(MAX_DECODE_ROUNDS):
        forms.append(urllib.parse.unquote(forms[-1]))
    for form in forms:
        problem = _unsafe(form)
        if problem is not None:
            raise HTTPException(400, f"file path {raw!r} has {problem}; ask for e.g. 'app.py'")
    root = os.path.realpath(workspace)
    real = os.path.realpath(os.path.join(root, raw))
    if real == root or os.path.commonpath([root, real]) != root:
        raise HTTPException(400, f"file path {raw!r} leads outside the workspace")
    return Path(real)


def create_app(workspace_root: str | None = None, insecure_paths: bool | None = None) -> FastAPI:
    """The app, its workspaces under `workspace_root` (default: $WORKSPACE_ROOT); file
    paths unchecked when `insecure_paths` (default: $BYO_INSECURE_PATHS is 1)."""
    if insecure_paths is None:
        insecure_paths = os.environ.get("BYO_INSECURE_PATHS") == "1"
    root = Path(workspace_root or os.environ.get("WORKSPACE_ROOT") or DEFAULT_WORKSPACE_ROOT)
    root = root.absolute()
    root.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, dict[str, Any]] = {}
    running: set[asyncio.Task[None]] = set()
    app = FastAPI(title="byo orchestrator", version="0.1.0")

    def workspace(project_id: str) -> Path:
        path = root / project_id
        if _UUID.fullmatch(project_id) is None or not (path / ".codex").is_dir():
            raise HTTPException(404, f"project {project_id!r} not found")
        return path

    def project(project_id: str) -> dict[str, str]:
        return {
            "project_id": project_id,
            "status": "completed",
            "workspace": str(root / project_id),
        }

    @app.post("/api/v1/projects")
    def create_project(body: NewProject) -> dict[str, str]:
        project_id = str(uuid.uuid4())
        path = root / project_id
        path.mkdir()
        (path / "README.md").write_text(f"# Fibonacci CLI\n\nBuilt for: {body.instruction}\n")
        (path / "app.py").write_text(APP_PY)
        job = {
            "job_id": str(uuid.uuid4()),
            "job_type": "create",
            "project_id": project_id,
            "instruction": body.instruction,
            "created_at": _now(),
        }
        _write_result(path, job, ["README.md", "app.py"], [])
        return project(project_id)

    @app.get("/api/v1/projects/{project_id}")
    def get_project(project_id: str) -> dict[str, str]:
        workspace(project_id)
        return project(project_id)

    @app.get("/api/v1/{project_id}/files")
    def list_files(project_id: str) -> list[dict[str, Any]]:
        base = workspace(project_id)
        found: list[dict[str, Any]] = []
        for folder, _dirs, names in os.walk(base):
            for name in names:
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink():
                    relative = path.relative_to(base).as_posix()
                    found.append({"path": relative, "size": path.stat().st_size})
            if len(found) >= MAX_LISTED_FILES:
                break
        return sorted(found, key=lambda entry: entry["path"])

    @app.get("/api/v1/{project_id}/files/{path:path}")
    def read_file(project_id: str, path: str, request: Request) -> Response:
        # The route's `path` loses a trailing newline (`$` matches before one): check the
        # whole decoded request path instead.
        full, prefix = str(request.scope["path"]), f"/api/v1/{project_id}/files/"
        path = full[len(prefix) :] if full.startswith(prefix) else path
        base = workspace(project_id)
        target = base / path if insecure_paths else safe_path(base, path)
        if not target.is_file():
            raise HTTPException(404, f"file {path!r} not found in project {project_id}")
        if target.stat().st_size > MAX_FILE_BYTES:
            raise HTTPException(413, f"file {path!r} is over {MAX_FILE_BYTES} bytes")
        return Response(target.read_bytes(), media_type="text/plain")

    async def run_edit(job: dict[str, Any]) -> None:
        await asyncio.sleep(JOB_STEP_S)
        job["status"] = "running"
        await asyncio.sleep(JOB_STEP_S)
        path = root / job["project_id"]
        try:
            with (path / "app.py").open("a") as app_py:
                app_py.write(f"# edit: {job['instruction']}\n")
            _write_result(path, job, [], ["app.py"])
        except OSError as error:
            job.update(status="failed", error=f"{type(error).__name__}: {error}")
            return
        job["status"] = "completed"

    @app.post("/api/v1/{project_id}/jobs", status_code=202)
    async def create_job(project_id: str, body: NewJob) -> dict[str, Any]:
        workspace(project_id)
        job_id = str(uuid.uuid4())
        job: dict[str, Any] = {
            "job_id": job_id,
            "job_type": body.job_type,
            "project_id": project_id,
            "instruction": body.instruction,
            "status": "queued",
            "created_at": _now(),
            "error": None,
        }
        jobs[job_id] = job
        task = asyncio.create_task(run_edit(job))
        running.add(task)
        task.add_done_callback(running.discard)
        return {"job_id": job_id, "status": "queued"}

    @app.get("/api/v1/{project_id}/jobs/{job_id}")
    def get_job(project_id: str, job_id: str) -> dict[str, Any]:
        workspace(project_id)
        job = jobs.get(job_id)
        if job is None or job["project_id"] != project_id:
            raise HTTPException(404, f"job {job_id!r} not found in project {project_id}")
        return {
            k: job[k]
            for k in ("job_id", "job_type", "project_id", "status", "error", "created_at")
        }

    return app

"""The orchestrator's operations: parsed input in, response data out, `ApiError` otherwise.

A job runs synchronously inside the request that starts it. Jobs of one project run one
at a time (a lock per project), so two edits never interleave on one workspace. Whatever
a worker does, raising included, the job ends with `.codex/result.json` written and a
final status stored, and the service keeps serving.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_codex_orchestrator import __version__
from pytest_codex_orchestrator.clock import utc_now
from pytest_codex_orchestrator.config import Settings
from pytest_codex_orchestrator.errors import ApiError, quote
from pytest_codex_orchestrator.paths import (
    InvalidProjectIdError,
    UnsafePathError,
    client_path_parts,
    validate_project_id,
)
from pytest_codex_orchestrator.results import REQUEST_FILE, RESULT_FILE, failure_result, write_json
from pytest_codex_orchestrator.storage import INTERRUPTED, JobRecord, ProjectRecord, Storage
from pytest_codex_orchestrator.workers import Worker
from pytest_codex_orchestrator.workspace_files import (
    FileLimits,
    FileMissingError,
    FileTooLargeError,
    ListingTooLargeError,
    list_files,
    read_file,
)

log = logging.getLogger(__name__)
RESULT_STATUSES = {"success": "completed", "failed": "failed"}
MAX_RECOVERY_SCAN = 100_000  # workspaces looked at for interrupted jobs' request.json


class Orchestrator:
    """Projects, their workspaces under `settings.workspace_root`, and their jobs."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        worker: Worker,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.worker = worker
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.workspace_root = settings.workspace_root
        self.workspace_root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def recover_interrupted(self) -> list[str]:
        """At start, before serving: fail every job a previous process left unfinished,
        remove its worker container (keeping its logs under `.jobs/<job>/`), and rewrite
        its workspace's result.json to a failed result (`error.type: interrupted`), so
        that the file never says success for a job the API calls failed. Returns the ids
        of the jobs it failed."""
        interrupted = self.storage.fail_interrupted_jobs()
        if not interrupted:
            return []
        log.warning("interrupted jobs failed", extra={"job_ids": interrupted})
        # Their worker containers outlived the process that waited for them.
        reap = getattr(self.worker, "reap", None)
        if callable(reap):
            reap(interrupted)
        worker_name = str(getattr(self.worker, "name", type(self.worker).__name__))
        for workspace, request in self._requests_of(set(interrupted)):
            result = failure_result(
                request=request,
                worker=worker_name,
                environ=self.environ,
                started_at=str(request.get("created_at") or utc_now()),
                error_type=str(INTERRUPTED["type"]),
                message=str(INTERRUPTED["message"]),
            )
            try:
                write_json(workspace, RESULT_FILE, result)
            except OSError:
                log.exception("result.json not rewritten", extra={"job_id": request["job_id"]})
        return interrupted

    def _requests_of(self, job_ids: set[str]) -> list[tuple[Path, dict[str, Any]]]:
        """The workspaces whose last request.json is one of `job_ids` (a job writes it
        before its worker starts; one job of a project runs at a time)."""
        found: list[tuple[Path, dict[str, Any]]] = []
        if not self.workspace_root.is_dir():
            return found
        for count, workspace in enumerate(self.workspace_root.iterdir()):
            if count >= MAX_RECOVERY_SCAN or len(found) == len(job_ids):
                break
            if not _is_hex_id(workspace.name):
                continue
            try:
                request = json.loads((workspace / REQUEST_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(request, dict) and request.get("job_id") in job_ids:
                found.append((workspace, request))
        return found

    def health(self) -> dict[str, Any]:
        try:
            self.storage.ping()
        except Exception as error:
            log.exception("health check failed")
            raise ApiError(
                503,
                f"database: does not answer ({type(error).__name__}); "
                "check DATABASE_URL and the disk",
            ) from None
        return {"status": "ok", "mode": self.settings.mode, "version": __version__}

    def create_project(self, instruction: str) -> dict[str, Any]:
        now = utc_now()
        project = ProjectRecord(
            id=uuid.uuid4().hex,
            instruction=instruction,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        job = JobRecord(
            id=uuid.uuid4().hex,
            project_id=project.id,
            job_type="create",
            instruction=instruction,
            status="pending",
            created_at=now,
        )
        self.storage.add_project(project, job)
        self._run(project, job)
        return self.get_project(project.id)

    def get_project(self, project_id: str) -> dict[str, Any]:
        project = self._project(project_id)
        job = self.storage.get_create_job(project.id)
        return _project_body(project, job)

    def create_edit_job(self, project_id: str, instruction: str) -> dict[str, Any]:
        project = self._project(project_id)
        job = JobRecord(
            id=uuid.uuid4().hex,
            project_id=project.id,
            job_type="edit",
            instruction=instruction,
            status="pending",
            created_at=utc_now(),
        )
        self.storage.add_job(job)
        return _job_body(self._run(project, job))

    def get_job(self, project_id: str, job_id: str) -> dict[str, Any]:
        project_id = _valid_project_id(project_id)
        if not _is_hex_id(job_id):
            raise ApiError(
                400,
                f"job id: {quote(job_id)} is not a job id; use the "
                "32-character lowercase hex id that POST "
                f"/api/v1/{project_id}/jobs returned",
            )
        project = self._project(project_id)
        job = self.storage.get_job(project.id, job_id)
        if job is None:
            raise ApiError(
                404,
                f"job id: {quote(job_id)} is not a job of project "
                f"{project.id}; use an id that POST /api/v1/{project.id}/jobs "
                "returned",
            )
        return _job_body(job)

    def list_files(self, project_id: str) -> dict[str, Any]:
        project = self._project(project_id)
        try:
            entries = list_files(self._workspace(project.id), self._file_limits())
        except ListingTooLargeError as error:
            raise ApiError(422, str(error)) from None
        return {
            "project_id": project.id,
            "files": [{"path": entry.path, "size": entry.size} for entry in entries],
        }

    def read_file(self, project_id: str, raw_path: str) -> dict[str, Any]:
        # Everything the client wrote is checked (400) before anything is looked up (404).
        # No lock: the descriptor walk is safe against a worker writing meanwhile.
        workspace = self._workspace(_valid_project_id(project_id))
        try:
            parts = client_path_parts(raw_path)
        except UnsafePathError as error:
            raise ApiError(400, str(error)) from None
        project = self._project(project_id)
        try:
            found = read_file(workspace, raw_path, parts, self._file_limits())
        except UnsafePathError as error:
            raise ApiError(400, str(error)) from None
        except FileTooLargeError as error:
            raise ApiError(413, str(error)) from None
        except FileMissingError:
            raise ApiError(
                404,
                f"file path: {quote(raw_path)} is not a file in project "
                f"{project.id}; list its files with GET "
                f"/api/v1/{project.id}/files",
            ) from None
        try:
            content, encoding = found.data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            content, encoding = base64.b64encode(found.data).decode("ascii"), "base64"
        return {
            "project_id": project.id,
            "path": "/".join(part for part in parts if part != "."),
            "size": found.size,
            "encoding": encoding,
            "content": content,
        }

    def _file_limits(self) -> FileLimits:
        return FileLimits(
            max_file_bytes=self.settings.max_file_bytes,
            max_depth=self.settings.max_tree_depth,
            max_entries=self.settings.max_list_entries,
        )

    def _project(self, raw_id: str) -> ProjectRecord:
        project_id = _valid_project_id(raw_id)
        project = self.storage.get_project(project_id)
        if project is None:
            raise ApiError(
                404,
                f"project id: {quote(project_id)} is not a project here; "
                "create one with POST /api/v1/projects",
            )
        return project

    def _workspace(self, project_id: str) -> Path:
        return self.workspace_root / project_id

    def _lock(self, project_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(project_id, threading.Lock())

    def _run(self, project: ProjectRecord, job: JobRecord) -> JobRecord:
        """Run `job` on the project's workspace to the end and store how it ended."""
        with self._lock(project.id):
            workspace = self._workspace(project.id)
            started_at = utc_now()
            job = replace(job, status="running", started_at=started_at)
            self.storage.save_job(job)
            if job.job_type == "create":
                self.storage.save_project(
                    replace(project, status="running", updated_at=started_at)
                )
            request = {
                "job_id": job.id,
                "project_id": project.id,
                "job_type": job.job_type,
                "instruction": job.instruction,
                "created_at": job.created_at,
            }
            result = self._call_worker(workspace, request, started_at)
            status = RESULT_STATUSES.get(str(result.get("status")), "failed")
            finished_at = utc_now()
            job = replace(
                job,
                status=status,
                finished_at=finished_at,
                error=_job_error(result) if status == "failed" else None,
            )
            self.storage.save_job(job)
            # The project's status is its create job's; an edit only moves updated_at.
            latest = self.storage.get_project(project.id) or project
            self.storage.save_project(
                replace(
                    latest,
                    status=status if job.job_type == "create" else latest.status,
                    updated_at=finished_at,
                )
            )
        log.info(
            "job",
            extra={
                "job_id": job.id,
                "project_id": project.id,
                "job_type": job.job_type,
                "status": job.status,
            },
        )
        return job

    def _call_worker(
        self, workspace: Path, request: dict[str, Any], started_at: str
    ) -> dict[str, Any]:
        worker_name = str(getattr(self.worker, "name", type(self.worker).__name__))
        try:
            workspace.mkdir(parents=True, exist_ok=True)
            write_json(workspace, REQUEST_FILE, request)
            result = self.worker.run(workspace, request)
            if not isinstance(result, dict) or result.get("status") not in RESULT_STATUSES:
                raise TypeError(
                    f"the worker returned {quote(result, 200)}, not a result "
                    "with status success or failed"
                )
        except Exception as error:
            log.exception("worker failed", extra={"job_id": request["job_id"]})
            result = failure_result(
                request=request,
                worker=worker_name,
                environ=self.environ,
                started_at=started_at,
                error_type=type(error).__name__,
                message=str(error) or type(error).__name__,
            )
            try:
                write_json(workspace, RESULT_FILE, result)
            except OSError:
                log.exception("result.json not written", extra={"job_id": request["job_id"]})
        return result


def _valid_project_id(raw: str) -> str:
    try:
        return validate_project_id(raw)
    except InvalidProjectIdError as error:
        raise ApiError(400, str(error)) from None


def _is_hex_id(raw: str) -> bool:
    try:
        validate_project_id(raw)
    except InvalidProjectIdError:
        return False
    return True


def _job_error(result: Mapping[str, Any]) -> dict[str, Any]:
    error = result.get("error")
    if isinstance(error, dict):
        return {
            "type": str(error.get("type", "unknown")),
            "message": str(error.get("message", "")),
        }
    return {"type": "unknown", "message": str(result.get("summary", "the job failed"))}


def _job_body(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "project_id": job.project_id,
        "job_type": job.job_type,
        "instruction": job.instruction,
        "status": job.status,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error,
    }


def _project_body(project: ProjectRecord, job: JobRecord | None) -> dict[str, Any]:
    return {
        "id": project.id,
        "instruction": project.instruction,
        "status": project.status,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "job": None if job is None else _job_body(job),
    }

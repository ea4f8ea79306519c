"""Worker faults with real containers: a worker that crashes, one that runs out of
memory, a missing image, and an orchestrator restarted while its worker ran. Each ends
as a structured error and a failed job, and leaves no container behind."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from pytest_codex_orchestrator.config import Settings
from pytest_codex_orchestrator.container_worker import ContainerWorker
from pytest_codex_orchestrator.server import make_server
from pytest_codex_orchestrator.storage import JobRecord, ProjectRecord, Storage

NOW = "2026-11-25T00:00:00.000Z"


def docker(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["docker", *argv], input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.fixture(scope="module")
def fault_image(worker_image: str) -> Callable[[str], str]:
    """An image like the worker whose entrypoint is `code` (Python) instead."""

    def build(code: str) -> str:
        tag = f"pytest-codex/fault-worker:{secrets.token_hex(4)}"
        entrypoint = json.dumps(["python3", "-c", code])
        docker(
            "build", "-q", "-t", tag, "-", stdin=f"FROM {worker_image}\nENTRYPOINT {entrypoint}\n"
        )
        return tag

    return build


def run_job(worker: ContainerWorker, root: Path) -> tuple[dict[str, Any], str]:
    job_id = f"fault-{secrets.token_hex(4)}"
    workspace = root / ("f" * 32)
    (workspace / ".codex").mkdir(parents=True, exist_ok=True)
    request = {
        "job_id": job_id,
        "project_id": "f" * 32,
        "job_type": "create",
        "instruction": "Create it",
    }
    result = worker.run(workspace, request)
    assert schemas.errors("result", result) == []
    on_disk = json.loads((workspace / ".codex" / "result.json").read_text())
    assert on_disk == result
    assert docker("ps", "-aq", "--filter", f"label=io.pytest-codex.job={job_id}") == ""
    return result, job_id


def test_a_crashing_worker(fault_image: Callable[[str], str], tmp_path: Path) -> None:
    image = fault_image("import sys; print('boom', file=sys.stderr); sys.exit(3)")
    result, job_id = run_job(
        ContainerWorker(image=image, workspace_root=tmp_path, job_timeout_s=60, environ={}),
        tmp_path,
    )
    assert result["status"] == "failed"
    assert result["error"] == {
        "type": "worker_crashed",
        "exit_code": 3,
        "message": "the worker exited without writing .codex/result.json",
    }
    assert "boom" in (tmp_path / ".jobs" / job_id / "worker.log").read_text()


def test_a_worker_over_its_memory_limit(fault_image: Callable[[str], str], tmp_path: Path) -> None:
    image = fault_image("chunks = [bytearray(16 * 2**20) for _ in range(64)]")
    worker = ContainerWorker(
        image=image, workspace_root=tmp_path, job_timeout_s=60, memory="64m", environ={}
    )
    result, _ = run_job(worker, tmp_path)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "out_of_memory"
    assert "64m" in result["error"]["message"]


def test_a_missing_worker_image(tmp_path: Path) -> None:
    worker = ContainerWorker(
        image="pytest-codex/never-built:none",
        workspace_root=tmp_path,
        job_timeout_s=60,
        environ={},
    )
    result, _ = run_job(worker, tmp_path)
    assert result["error"]["type"] == "worker_image_missing"


def test_a_restart_reaps_the_worker_of_an_interrupted_job(
    worker_image: str, tmp_path: Path
) -> None:
    job_id = secrets.token_hex(16)
    storage = Storage(tmp_path / "orchestrator.db")
    project = ProjectRecord("e" * 32, "build", "running", NOW, NOW)
    storage.add_project(
        project, JobRecord(job_id, project.id, "create", "build", "running", NOW, started_at=NOW)
    )
    storage.close()
    # The workspace as the worker left it: its request, and a result.json saying success.
    workspace = tmp_path / "ws" / project.id
    (workspace / ".codex").mkdir(parents=True)
    request = {"job_id": job_id, "project_id": project.id, "job_type": "create"}
    (workspace / ".codex" / "request.json").write_text(
        json.dumps({**request, "instruction": "build", "created_at": NOW})
    )
    (workspace / ".codex" / "result.json").write_text('{"status": "success"}')
    # The worker the killed orchestrator had started, still running.
    docker(
        "run",
        "-d",
        "--label",
        f"io.pytest-codex.job={job_id}",
        "--label",
        "io.pytest-codex.role=worker",
        "--entrypoint",
        "sh",
        worker_image,
        "-c",
        "echo the-worker-said-this >&2; exec sleep 300",
    )
    time.sleep(1)  # its line is written
    settings = Settings.from_env(
        {},
        workspace_root=tmp_path / "ws",
        database_url=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        port=0,
        use_dummy_worker=False,
    )
    server = make_server(settings, environ={"CODEX_WORKER_IMAGE": worker_image})
    try:
        job = server.orchestrator.get_job(project.id, job_id)
    finally:
        server.server_close()
    assert job["status"] == "failed"
    assert job["error"]["type"] == "interrupted"
    assert docker("ps", "-aq", "--filter", f"label=io.pytest-codex.job={job_id}") == ""
    # The file agrees with the API, and the removed worker's logs stay with the job.
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    assert schemas.errors("result", result) == []
    assert result["status"] == "failed"
    assert result["error"]["type"] == "interrupted"
    assert result["error"]["message"] == job["error"]["message"]
    assert not list((workspace / ".codex").glob("*.partial"))
    worker_log = tmp_path / "ws" / ".jobs" / job_id / "worker.log"
    assert "the-worker-said-this" in worker_log.read_text()

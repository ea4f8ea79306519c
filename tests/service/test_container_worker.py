"""The live worker when the Docker engine cannot be reached at job time: a structured
error in result.json, a failed job, and an orchestrator that keeps serving. (The worker
container itself is exercised with real Docker in tests/docker/.)"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_codex import schemas
from pytest_codex_orchestrator.container_worker import ContainerWorker
from pytest_codex_orchestrator.service import Orchestrator

CANARY = "sk-canary-container-worker-5e2a"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_engine_fails_the_job_with_a_structured_error(
    make_service: Callable[..., Orchestrator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    worker = ContainerWorker(
        image="codex-worker:latest",
        workspace_root=tmp_path / "workspaces",
        job_timeout_s=30,
        environ={"OPENAI_API_KEY": CANARY},
    )
    service = make_service(worker=worker)
    project = service.create_project("Create the Fibonacci CLI.")
    assert project["status"] == "failed"
    assert project["job"]["status"] == "failed"
    assert project["job"]["error"]["type"] == "docker_unavailable"
    on_disk = tmp_path / "workspaces" / project["id"] / ".codex" / "result.json"
    result = json.loads(on_disk.read_text())
    assert schemas.errors("result", result) == []
    assert result["status"] == "failed"
    assert result["error"]["type"] == "docker_unavailable"
    assert result["logs"]["env"]["OPENAI_API_KEY"] == "present"
    assert CANARY not in on_disk.read_text()
    # The service keeps serving: the record is there and the next request is answered.
    assert service.get_project(project["id"])["status"] == "failed"
    assert service.health()["status"] == "ok"


def test_secrets_are_kept_out_of_the_workers_configuration(tmp_path: Path) -> None:
    """What the container gets as its configuration (`docker inspect`) and what only on
    its stdin; the proxy of `openai` mode is handed on as HTTPS_PROXY/HTTP_PROXY."""
    worker = ContainerWorker(
        image="codex-worker:latest",
        workspace_root=tmp_path,
        job_timeout_s=30,
        environ={
            "OPENAI_API_KEY": CANARY,
            "OPENAI_PROJECT": "proj-canary-1",
            "OPENAI_BASE_URL": "https://api.openai.com/v1",
            "CODEX_WORKER_PROXY": "http://model-proxy:3128",
        },
    )
    environment, secrets = worker._environment()
    assert secrets == {"OPENAI_API_KEY": CANARY, "OPENAI_PROJECT": "proj-canary-1"}
    assert CANARY not in json.dumps(environment)
    assert "proj-canary-1" not in json.dumps(environment)
    assert environment["OPENAI_API_KEY_FILE"] == "/run/codex-secrets/OPENAI_API_KEY"
    assert environment["OPENAI_PROJECT_FILE"] == "/run/codex-secrets/OPENAI_PROJECT"
    assert "OPENAI_ORG_ID_FILE" not in environment
    assert environment["CODEX_SECRETS_STDIN"] == "1"
    assert environment["OPENAI_BASE_URL"] == "https://api.openai.com/v1"
    assert environment["HTTPS_PROXY"] == environment["http_proxy"] == "http://model-proxy:3128"

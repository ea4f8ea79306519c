"""The bundled orchestrator stack in real Docker: image build, compose up to healthy,
the four seed calls, loopback-only port, and a teardown that does not wait out SIGTERM."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_codex.target import compose as stack
from tests.conftest import FIBONACCI, REPO, SEED_FILES

COMPOSE_FILE = REPO / "service" / "compose.yaml"


@pytest.fixture
def compose(tmp_path: Path) -> Iterator[stack.Compose]:
    workspace_root = tmp_path / "workspaces"
    workspace_root.mkdir()
    project = f"pytest-codex-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CODEX_WORKSPACE_ROOT": str(workspace_root)}
    up = stack.Compose(stack.detect_compose_command(), (COMPOSE_FILE,), project, env)
    try:
        yield up
    finally:
        up.run("down", "-v", "--remove-orphans", "-t", "5")


def test_seed_calls_against_the_compose_stack(compose: stack.Compose) -> None:
    compose.run("build")
    compose.run("up", "-d")
    port = int(compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not stack.probe(url):
        assert time.monotonic() < deadline, stack.tail(compose.logs(), 30)
        time.sleep(0.2)

    with httpx.Client(base_url=url, timeout=30) as client:
        created = client.post("/api/v1/projects", json={"instruction": FIBONACCI})
        assert created.status_code == 200, created.text
        project = created.json()
        assert project["status"] == "completed"
        files = client.get(f"/api/v1/{project['id']}/files")
        assert files.status_code == 200
        assert [f["path"] for f in files.json()["files"]] == SEED_FILES
        app = client.get(f"/api/v1/{project['id']}/files/app.py")
        assert app.status_code == 200
        assert "fib" in app.json()["content"].lower()
        edit = client.post(
            f"/api/v1/{project['id']}/jobs",
            json={"job_type": "edit", "instruction": "Add a comment."},
        )
        assert edit.status_code == 200
        assert edit.json()["status"] == "completed"

    # The workspace is bind-mounted at the same path: the host sees what the API served.
    workspace = Path(compose.env["CODEX_WORKSPACE_ROOT"]) / project["id"]
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    assert result["status"] == "success"
    assert result["modified_files"] == ["app.py"]
    # Published on loopback only.
    assert compose.run("port", "orchestrator", "8000").strip().startswith("127.0.0.1:")

    started = time.monotonic()
    compose.run("down", "-v", "-t", "5")
    assert time.monotonic() - started < 8, "SIGTERM was not honoured: compose waited it out"
    assert compose.run("ps", "-q").strip() == ""

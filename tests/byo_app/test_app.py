"""The FastAPI orchestrator of tests/byo/ on its own: every route, through uvicorn on a
loopback port, checked with httpx (and raw bytes for the traversal payloads)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from pytest_codex.cases import rawhttp
from tests.byo_app.server import BYO, ByoServer, byo_server

UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
FILES = [".codex/request.json", ".codex/result.json", "README.md", "app.py"]
CANARY = "byo-outside-canary-0f1e2d3c"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((BYO / "schemas" / f"{name}.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ByoServer]:
    with byo_server(tmp_path_factory.mktemp("byo")) as running:
        (running.workspace_root / "OUTSIDE-CANARY.txt").write_text(CANARY)
        yield running


@pytest.fixture(scope="module")
def client(server: ByoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def project(client: httpx.Client) -> dict[str, Any]:
    answer = client.post("/api/v1/projects", json={"instruction": "Fibonacci CLI, please."})
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_readiness_is_openapi_and_docs_not_healthz(client: httpx.Client) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/projects" in spec.json()["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert client.get("/healthz").status_code == 404


def test_create_and_get_project(
    client: httpx.Client, server: ByoServer, project: dict[str, Any]
) -> None:
    jsonschema.validate(project, schema("project"))
    assert project["status"] == "completed"
    assert set(project) == {"project_id", "status", "workspace"}
    assert Path(project["workspace"]) == server.workspace_root.absolute() / project["project_id"]
    assert Path(project["workspace"]).is_dir()
    again = client.get(f"/api/v1/projects/{project['project_id']}")
    assert again.status_code == 200
    assert again.json() == project


def test_files_are_a_bare_list_with_sizes(client: httpx.Client, project: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/{project['project_id']}/files")
    assert answer.status_code == 200
    listing = answer.json()
    jsonschema.validate(listing, schema("files"))
    assert [entry["path"] for entry in listing] == FILES
    workspace = Path(project["workspace"])
    assert all(entry["size"] == (workspace / entry["path"]).stat().st_size for entry in listing)


def test_file_content_is_raw_text(client: httpx.Client, project: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/{project['project_id']}/files/README.md")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.content == (Path(project["workspace"]) / "README.md").read_bytes()
    assert answer.text.startswith("# ")
    assert "Fibonacci" in answer.text


def test_result_json_has_logs_as_a_list(client: httpx.Client, project: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/{project['project_id']}/files/.codex/result.json")
    assert answer.status_code == 200
    result = json.loads(answer.content)
    jsonschema.validate(result, schema("result"))
    assert result["status"] == "success"
    assert result["job_type"] == "create"
    assert result["project_id"] == project["project_id"]
    assert sorted(result["created_files"]) == ["README.md", "app.py"]
    assert result["logs"]
    assert all(isinstance(line, str) for line in result["logs"])


def test_edit_job_is_queued_then_completed(client: httpx.Client, project: dict[str, Any]) -> None:
    pid = project["project_id"]
    before = (Path(project["workspace"]) / "app.py").read_text()
    answer = client.post(
        f"/api/v1/{pid}/jobs", json={"job_type": "edit", "instruction": "Add a flag comment."}
    )
    assert answer.status_code == 202
    queued = answer.json()
    jsonschema.validate(queued, schema("job"))
    assert queued["status"] == "queued"
    assert set(queued) == {"job_id", "status"}
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/{pid}/jobs/{queued['job_id']}").json()
        jsonschema.validate(job, schema("job"))
        seen.append(job["status"])
        if job["status"] == "completed":
            break
        time.sleep(0.2)
    assert seen[-1] == "completed", seen
    assert seen[0] != "completed"  # asynchronous: not done when first asked
    assert set(seen) <= {"queued", "running", "completed"}
    after = (Path(project["workspace"]) / "app.py").read_text()
    assert after == before + "# edit: Add a flag comment.\n"
    result = json.loads(client.get(f"/api/v1/{pid}/files/.codex/result.json").content)
    jsonschema.validate(result, schema("result"))
    assert (result["job_type"], result["modified_files"]) == ("edit", ["app.py"])
    listing = client.get(f"/api/v1/{pid}/files").json()
    assert [entry["path"] for entry in listing] == FILES


@pytest.mark.parametrize(
    "path",
    [
        "../OUTSIDE-CANARY.txt",
        "..%2fOUTSIDE-CANARY.txt",
        "%2e%2e/OUTSIDE-CANARY.txt",
        "%252e%252e%252fOUTSIDE-CANARY.txt",
        "tests/../../OUTSIDE-CANARY.txt",
        "..\\OUTSIDE-CANARY.txt",
        "%2fetc%2fpasswd",
        "C:/Windows/win.ini",
        "app.py%00.txt",
        "..;/OUTSIDE-CANARY.txt",
        "%ef%bc%8e%ef%bc%8e/OUTSIDE-CANARY.txt",
        "..%c0%afOUTSIDE-CANARY.txt",
        "app.py%0a",
        "%u002e%u002e/OUTSIDE-CANARY.txt",
        "escape-link",
    ],
)
def test_traversal_is_refused_with_400(
    server: ByoServer, project: dict[str, Any], path: str
) -> None:
    link = Path(project["workspace"]) / "escape-link"
    if not link.is_symlink():
        link.symlink_to(server.workspace_root / "OUTSIDE-CANARY.txt")
    exchange = rawhttp.send(
        server.url, "GET", f"/api/v1/{project['project_id']}/files/{path}", timeout=10
    )
    assert exchange.status == 400, exchange.body[:200]
    assert CANARY.encode() not in exchange.body
    assert b"root:x:0:0:" not in exchange.body


def test_missing_file_unknown_project_unknown_job(
    client: httpx.Client, project: dict[str, Any]
) -> None:
    pid = project["project_id"]
    assert client.get(f"/api/v1/{pid}/files/does/not/exist.txt").status_code == 404
    for unknown in ("00000000-0000-4000-8000-000000000000", "nope", ".."):
        assert client.get(f"/api/v1/{unknown}/files").status_code == 404
        assert client.get(f"/api/v1/projects/{unknown}").status_code == 404
    unknown_project = client.get("/api/v1/00000000-0000-4000-8000-000000000000/files")
    assert "detail" in unknown_project.json()
    assert client.get(f"/api/v1/{pid}/jobs/{pid}").status_code == 404


def test_bad_bodies_are_422(client: httpx.Client, project: dict[str, Any]) -> None:
    malformed = client.post(
        "/api/v1/projects",
        content=b'{"instruction": ',
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    assert "detail" in malformed.json()
    assert client.post("/api/v1/projects", json={}).status_code == 422
    assert client.post("/api/v1/projects", json={"instruction": 42}).status_code == 422
    wrong_type = client.post(
        f"/api/v1/{project['project_id']}/jobs", json={"job_type": "create", "instruction": "x"}
    )
    assert wrong_type.status_code == 422


def test_insecure_switch_serves_outside_files(tmp_path: Path) -> None:
    """BYO_INSECURE_PATHS=1 is the leaky target the harness must catch (tests/docker)."""
    with byo_server(tmp_path, {"BYO_INSECURE_PATHS": "1"}) as leaky:
        (leaky.workspace_root / "OUTSIDE-CANARY.txt").write_text(CANARY)
        with httpx.Client(base_url=leaky.url, timeout=10) as http:
            pid = http.post("/api/v1/projects", json={"instruction": "x"}).json()["project_id"]
        exchange = rawhttp.send(
            leaky.url, "GET", f"/api/v1/{pid}/files/../OUTSIDE-CANARY.txt", timeout=10
        )
    assert (exchange.status, exchange.body) == (200, CANARY.encode())

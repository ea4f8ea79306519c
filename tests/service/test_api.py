"""`dispatch` without sockets: every endpoint, every status, every error shape."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_codex_orchestrator.api import ROUTES, Headers, Request, Response, dispatch
from pytest_codex_orchestrator.service import Orchestrator
from tests.conftest import FIBONACCI, SEED_FILES

DETAIL = re.compile(r"^[^:]+: .+; .+$", re.DOTALL)
JSON = {"Content-Type": "application/json"}
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
MakeService = Callable[..., Orchestrator]


def call(
    service: Orchestrator,
    method: str,
    target: str,
    body: bytes | Any = b"",
    headers: dict[str, str] | None = None,
) -> Response:
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
        headers = {**JSON, **(headers or {})}
    response = dispatch(service, Request(method, target, Headers(headers or {}), body))
    assert "Content-Type" in response.headers
    return response


def data(response: Response) -> Any:
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.body)


def error(response: Response, status: int) -> str:
    assert response.status == status, response.body
    document = data(response)
    assert list(document) == ["detail"]
    detail: str = document["detail"]
    assert DETAIL.match(detail), detail
    assert "Traceback" not in detail
    return detail


@pytest.fixture
def project(service: Orchestrator) -> dict[str, Any]:
    response = call(service, "POST", "/api/v1/projects", {"instruction": FIBONACCI})
    assert response.status == 200, response.body
    created: dict[str, Any] = data(response)
    return created


def test_health(service: Orchestrator) -> None:
    response = call(service, "GET", "/healthz")
    assert response.status == 200
    assert data(response) == {"status": "ok", "mode": "mocked", "version": "0.1.0"}
    assert call(service, "GET", "/healthz?probe=1").status == 200
    assert call(service, "HEAD", "/healthz").status == 200


def test_health_is_503_when_the_database_is_gone(service: Orchestrator) -> None:
    service.storage.close()
    assert "database: does not answer" in error(call(service, "GET", "/healthz"), 503)


def test_create_project(project: dict[str, Any], service: Orchestrator) -> None:
    assert list(project) == ["id", "instruction", "status", "created_at", "updated_at", "job"]
    assert re.fullmatch(r"[0-9a-f]{32}", project["id"])
    assert project["instruction"] == FIBONACCI
    assert project["status"] == "completed"
    job = project["job"]
    assert list(job) == [
        "id",
        "project_id",
        "job_type",
        "instruction",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "error",
    ]
    assert (job["project_id"], job["job_type"], job["status"], job["error"]) == (
        project["id"],
        "create",
        "completed",
        None,
    )
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    request = json.loads(
        (service.workspace_root / project["id"] / ".codex" / "request.json").read_text()
    )
    assert request == {
        "job_id": job["id"],
        "project_id": project["id"],
        "job_type": "create",
        "instruction": FIBONACCI,
        "created_at": job["created_at"],
    }


def test_get_project(project: dict[str, Any], service: Orchestrator) -> None:
    response = call(service, "GET", f"/api/v1/projects/{project['id']}")
    assert response.status == 200
    assert data(response) == project
    assert "create one with POST /api/v1/projects" in error(
        call(service, "GET", f"/api/v1/projects/{UNKNOWN_ID}"), 404
    )
    assert "is not a project id" in error(call(service, "GET", "/api/v1/projects/nope"), 400)


def test_list_files(project: dict[str, Any], service: Orchestrator) -> None:
    response = call(service, "GET", f"/api/v1/{project['id']}/files")
    assert response.status == 200
    listing = data(response)
    assert listing["project_id"] == project["id"]
    assert [entry["path"] for entry in listing["files"]] == SEED_FILES
    workspace = service.workspace_root / project["id"]
    for entry in listing["files"]:
        assert entry["size"] == (workspace / entry["path"]).stat().st_size
    error(call(service, "GET", f"/api/v1/{UNKNOWN_ID}/files"), 404)


def test_read_a_text_file(project: dict[str, Any], service: Orchestrator) -> None:
    response = call(service, "GET", f"/api/v1/{project['id']}/files/app.py")
    assert response.status == 200
    document = data(response)
    app = (service.workspace_root / project["id"] / "app.py").read_text()
    assert document == {
        "project_id": project["id"],
        "path": "app.py",
        "size": len(app.encode()),
        "encoding": "utf-8",
        "content": app,
    }
    nested = data(call(service, "GET", f"/api/v1/{project['id']}/files/tests/test_cli.py"))
    assert nested["path"] == "tests/test_cli.py"


def test_read_a_binary_file(project: dict[str, Any], service: Orchestrator) -> None:
    blob = bytes(range(256))
    (service.workspace_root / project["id"] / "data.bin").write_bytes(blob)
    document = data(call(service, "GET", f"/api/v1/{project['id']}/files/data.bin"))
    assert document["encoding"] == "base64"
    assert base64.b64decode(document["content"]) == blob
    assert document["size"] == 256


@pytest.mark.parametrize(
    "raw",
    [
        "../OUTSIDE-CANARY.txt",
        "%2e%2e/OUTSIDE-CANARY.txt",
        "%252e%252e%252fOUTSIDE-CANARY.txt",
        "..%5cOUTSIDE-CANARY.txt",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "app.py%00.txt",
        "%c0%ae%c0%ae/OUTSIDE-CANARY.txt",
        "..;/OUTSIDE-CANARY.txt",
        "",
    ],
)
def test_unsafe_file_paths_are_400(
    project: dict[str, Any], service: Orchestrator, raw: str
) -> None:
    (service.workspace_root / "OUTSIDE-CANARY.txt").write_text("outside canary 7f3a\n")
    response = call(service, "GET", f"/api/v1/{project['id']}/files/{raw}")
    assert error(response, 400).startswith("file path: ")
    assert b"outside canary 7f3a" not in response.body


def test_an_unsafe_path_is_400_even_for_an_unknown_project(service: Orchestrator) -> None:
    error(call(service, "GET", f"/api/v1/{UNKNOWN_ID}/files/%2e%2e/x"), 400)
    error(call(service, "GET", f"/api/v1/{UNKNOWN_ID}/files/x"), 404)


def test_a_symlink_escape_is_400(
    project: dict[str, Any], service: Orchestrator, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not show 91c2\n")
    (service.workspace_root / project["id"] / "link.txt").symlink_to(secret)
    response = call(service, "GET", f"/api/v1/{project['id']}/files/link.txt")
    assert "leads outside" in error(response, 400)
    assert b"91c2" not in response.body
    listing = data(call(service, "GET", f"/api/v1/{project['id']}/files"))
    assert "link.txt" not in [entry["path"] for entry in listing["files"]]


@pytest.mark.parametrize("raw", ["does/not/exist.txt", "missing.py", "tests", ".codex"])
def test_safe_but_missing_files_are_404(
    project: dict[str, Any], service: Orchestrator, raw: str
) -> None:
    detail = error(call(service, "GET", f"/api/v1/{project['id']}/files/{raw}"), 404)
    assert f"list its files with GET /api/v1/{project['id']}/files" in detail


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/../files/OUTSIDE-CANARY.txt",
        "/api/v1/..%2f/files/OUTSIDE-CANARY.txt",
        "/api/v1/%2e%2e/files/OUTSIDE-CANARY.txt",
        f"/api/v1/{UNKNOWN_ID}%2f..%2f/files/x",
        "/api/v1/.%2e/files",
        f"/api/v1/{UNKNOWN_ID.upper()}/files",
        f"/api/v1/{UNKNOWN_ID}/jobs/nope",
    ],
)
def test_invalid_ids_are_400(service: Orchestrator, target: str) -> None:
    error(call(service, "GET", target), 400)


def test_edit_job_and_get_job(project: dict[str, Any], service: Orchestrator) -> None:
    response = call(
        service,
        "POST",
        f"/api/v1/{project['id']}/jobs",
        {"job_type": "edit", "instruction": "Add a comment."},
    )
    assert response.status == 200, response.body
    job = data(response)
    assert (job["project_id"], job["job_type"], job["status"], job["error"]) == (
        project["id"],
        "edit",
        "completed",
        None,
    )
    assert call(service, "GET", f"/api/v1/{project['id']}/jobs/{job['id']}").body == response.body
    app = (service.workspace_root / project["id"] / "app.py").read_text()
    assert app.endswith("# edit: Add a comment.\n")
    result = json.loads(
        (service.workspace_root / project["id"] / ".codex" / "result.json").read_text()
    )
    assert (result["job_type"], result["modified_files"]) == ("edit", ["app.py"])
    error(call(service, "GET", f"/api/v1/{project['id']}/jobs/{UNKNOWN_ID}"), 404)
    error(
        call(
            service, "POST", f"/api/v1/{UNKNOWN_ID}/jobs", {"job_type": "edit", "instruction": "x"}
        ),
        404,
    )


def test_a_job_belongs_to_its_project(project: dict[str, Any], service: Orchestrator) -> None:
    other = data(call(service, "POST", "/api/v1/projects", {"instruction": "another"}))
    error(call(service, "GET", f"/api/v1/{other['id']}/jobs/{project['job']['id']}"), 404)


@pytest.mark.parametrize(
    "body",
    [
        b'{"instruction": ',
        b"{'instruction': 'x'}",
        b"",
        b'{"instruction": NaN}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
)
def test_malformed_json_is_400(service: Orchestrator, body: bytes) -> None:
    detail = error(call(service, "POST", "/api/v1/projects", body, JSON), 400)
    assert detail.startswith("body: ")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "a JSON array is not an object"),
        ("instruction", "a JSON string is not an object"),
        (None, "a JSON null is not an object"),
        ({}, "field 'instruction' is missing"),
        ({"instruction": "x", "model": "gpt"}, "unknown field 'model'"),
        ({"instruction": 42}, "42 is a number, not a string"),
        ({"instruction": None}, "null is a null, not a string"),
        ({"instruction": ["x"]}, "is a array, not a string"),
        ({"instruction": True}, "true is a boolean"),
        ({"instruction": ""}, "'' is empty"),
        ({"instruction": " \n\t"}, "is empty"),
        ({"instruction": "x" * 20_001}, "20001 characters is over the limit of 20000"),
        ({"instruction": "\ud800"}, "unpaired surrogate"),
    ],
)
def test_invalid_project_bodies_are_422(service: Orchestrator, body: Any, fragment: str) -> None:
    assert fragment in error(call(service, "POST", "/api/v1/projects", body), 422)


def test_the_longest_instruction_is_accepted(service: Orchestrator) -> None:
    response = call(service, "POST", "/api/v1/projects", {"instruction": "x" * 20_000})
    assert response.status == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instruction": "x"}, "field 'job_type' is missing"),
        ({"job_type": "edit"}, "field 'instruction' is missing"),
        ({"job_type": "create", "instruction": "x"}, '"create" is not a job type'),
        ({"job_type": 1, "instruction": "x"}, "1 is not a job type"),
        ({"job_type": "edit", "instruction": 5}, "5 is a number"),
        ({"job_type": "edit", "instruction": "x", "extra": 1}, "unknown field 'extra'"),
    ],
)
def test_invalid_job_bodies_are_422(
    project: dict[str, Any], service: Orchestrator, body: Any, fragment: str
) -> None:
    target = f"/api/v1/{project['id']}/jobs"
    assert fragment in error(call(service, "POST", target, body), 422)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/jsonp",
    ],
)
def test_a_body_that_is_not_json_is_415(service: Orchestrator, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    detail = error(
        call(service, "POST", "/api/v1/projects", b'{"instruction": "x"}', headers), 415
    )
    assert detail.startswith("Content-Type: ")


def test_json_with_a_charset_is_fine(service: Orchestrator) -> None:
    response = call(
        service,
        "POST",
        "/api/v1/projects",
        b'{"instruction": "x"}',
        {"content-type": "Application/JSON; charset=UTF-8"},
    )
    assert response.status == 200


def test_a_body_over_the_limit_is_413(make_service: MakeService) -> None:
    service = make_service(max_body_bytes=100)
    body = json.dumps({"instruction": "x" * 200}).encode()
    assert "over the limit of 100" in error(
        call(service, "POST", "/api/v1/projects", body, JSON), 413
    )


def test_unknown_paths_are_404_and_wrong_methods_405(service: Orchestrator) -> None:
    for target in (
        "/",
        "/api/v1",
        "/api/v2/projects",
        "/healthz/",
        "/docs/x",
        f"/api/v1/{UNKNOWN_ID}",
        f"/api/v1/{UNKNOWN_ID}/other",
    ):
        assert error(call(service, "GET", target), 404).startswith("path: ")
    response = call(service, "GET", "/api/v1/projects")
    assert "use POST" in error(response, 405)
    assert response.headers["Allow"] == "POST"
    response = call(service, "DELETE", "/healthz")
    error(response, 405)
    assert response.headers["Allow"] == "GET, HEAD"
    response = call(service, "PUT", f"/api/v1/{UNKNOWN_ID}/jobs")
    assert response.headers["Allow"] == "POST"


def test_a_token_guards_every_api_call(make_service: MakeService) -> None:
    service = make_service(api_token="s3cret-token")
    good = {"Authorization": "Bearer s3cret-token"}
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "s3cret-token"},
        {"Authorization": "Basic czNjcmV0LXRva2Vu"},
        {"Authorization": "Bearer s3cret-token-longer"},
    ):
        for method, target in (
            ("POST", "/api/v1/projects"),
            ("GET", f"/api/v1/{UNKNOWN_ID}/files"),
            ("GET", "/api/v1/unknown"),
        ):
            response = call(service, method, target, {"instruction": "x"}, headers)
            assert error(response, 401).startswith("Authorization: ")
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert b"s3cret-token" not in response.body
    assert call(service, "POST", "/api/v1/projects", {"instruction": "x"}, good).status == 200
    assert (
        call(
            service,
            "POST",
            "/api/v1/projects",
            {"instruction": "x"},
            {"authorization": "bearer s3cret-token"},
        ).status
        == 200
    )
    for target in ("/healthz", "/openapi.json", "/docs"):
        assert call(service, "GET", target).status == 200


def test_without_a_token_no_header_is_needed(service: Orchestrator) -> None:
    assert call(service, "POST", "/api/v1/projects", {"instruction": "x"}).status == 200


class ExplodingWorker:
    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the worker fell over")


class SloppyWorker:
    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": "maybe"}


def test_a_worker_that_raises_fails_the_job_and_the_service_goes_on(
    make_service: MakeService,
) -> None:
    service = make_service(worker=ExplodingWorker())
    response = call(service, "POST", "/api/v1/projects", {"instruction": FIBONACCI})
    assert response.status == 200
    project = data(response)
    assert project["status"] == "failed"
    assert project["job"]["status"] == "failed"
    assert project["job"]["error"] == {"type": "RuntimeError", "message": "the worker fell over"}
    workspace = service.workspace_root / project["id"]
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    assert result["status"] == "failed"
    assert result["error"] == {
        "type": "RuntimeError",
        "message": "the worker fell over",
        "exit_code": None,
    }
    assert result["job_type"] == "create"
    assert data(call(service, "GET", f"/api/v1/projects/{project['id']}")) == project
    edit = data(
        call(
            service,
            "POST",
            f"/api/v1/{project['id']}/jobs",
            {"job_type": "edit", "instruction": "again"},
        )
    )
    assert (edit["status"], edit["error"]["type"]) == ("failed", "RuntimeError")
    assert call(service, "GET", "/healthz").status == 200


def test_a_worker_returning_nonsense_fails_the_job(make_service: MakeService) -> None:
    service = make_service(worker=SloppyWorker())
    project = data(call(service, "POST", "/api/v1/projects", {"instruction": "x"}))
    assert project["job"]["error"]["type"] == "TypeError"
    assert "not a result with status success or failed" in project["job"]["error"]["message"]


def test_an_unexpected_error_is_a_bare_500(service: Orchestrator) -> None:
    service.storage.close()  # every database call now raises sqlite3.ProgrammingError
    response = call(service, "GET", f"/api/v1/projects/{UNKNOWN_ID}")
    assert response.status == 500
    assert data(response) == {"detail": "internal error"}


def test_openapi_and_docs(service: Orchestrator) -> None:
    document = data(call(service, "GET", "/openapi.json"))
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    assert documented == {(route.method, route.openapi_path) for route in ROUTES}
    page = call(service, "GET", "/docs")
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    for method, path in documented:
        assert f"<code>{method} {path}</code>" in text

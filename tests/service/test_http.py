"""The real server over real sockets: the seed calls, traversal request lines sent byte for
byte, body limits enforced before reading, slow clients, tokens, the contract document,
a clean stop on SIGTERM, redacted logs and a restart that fails interrupted jobs."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_codex_orchestrator.api import ROUTES
from pytest_codex_orchestrator.server import OrchestratorServer
from pytest_codex_orchestrator.storage import JobRecord, ProjectRecord, Storage
from tests.conftest import FIBONACCI, SEED_FILES

CANARY_TEXT = "outside-canary-5be1c0de"
PASSWD_LINE = "root:x:0:0:"
# The request targets of matrices/traversal.yaml, after `/api/v1/{project_id}/files/`.
TRAVERSAL = [
    "../OUTSIDE-CANARY.txt",
    "../../OUTSIDE-CANARY.txt",
    "../../etc/passwd",
    "../../../../../../../../etc/passwd",
    "app.py/../../OUTSIDE-CANARY.txt",
    "./../OUTSIDE-CANARY.txt",
    "tests/../../OUTSIDE-CANARY.txt",
    "..",
    "%2e%2e/OUTSIDE-CANARY.txt",
    "%2e%2e%2fOUTSIDE-CANARY.txt",
    "..%2fOUTSIDE-CANARY.txt",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    ".%2e/OUTSIDE-CANARY.txt",
    "%252e%252e/OUTSIDE-CANARY.txt",
    "%252e%252e%252fOUTSIDE-CANARY.txt",
    "..%252fOUTSIDE-CANARY.txt",
    "%25252e%25252e%25252fetc%25252fpasswd",
    "%c0%ae%c0%ae/OUTSIDE-CANARY.txt",
    "%c0%ae%c0%ae%c0%afOUTSIDE-CANARY.txt",
    "%e0%80%ae%e0%80%ae/OUTSIDE-CANARY.txt",
    "..%c0%afOUTSIDE-CANARY.txt",
    "..\\OUTSIDE-CANARY.txt",
    "..%5cOUTSIDE-CANARY.txt",
    "tests\\..\\..\\OUTSIDE-CANARY.txt",
    "%5c..%5c..%5cetc%5cpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "C:/Windows/win.ini",
    "c:%5cwindows%5cwin.ini",
    "//etc/passwd",
    "app.py%00.txt",
    "..%00/OUTSIDE-CANARY.txt",
    "%2e%2e%00%2fetc%2fpasswd",
    "..%2f..%5c..%2fetc/passwd",
    "%2e./%2e%2e/OUTSIDE-CANARY.txt",
    "..;/OUTSIDE-CANARY.txt",
    "%uff0e%uff0e/OUTSIDE-CANARY.txt",
    "%ef%bc%8e%ef%bc%8e/OUTSIDE-CANARY.txt",
    "escape.txt",
    "door/OUTSIDE-CANARY.txt",
]
PROJECT_ID_TRAVERSAL = [
    "/api/v1/../files/OUTSIDE-CANARY.txt",
    "/api/v1/..%2f/files/OUTSIDE-CANARY.txt",
    "/api/v1/%2e%2e/files/OUTSIDE-CANARY.txt",
    "/api/v1/{id}%2f..%2f/files/OUTSIDE-CANARY.txt",
    "/api/v1/.%2e/files",
    "/api/v1/../../OUTSIDE-CANARY.txt",
]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status, headers, body)


def send_raw(server: OrchestratorServer, data: bytes, timeout: float = 5) -> RawResponse:
    """Put `data` on the wire as it is and read until the server closes."""
    with socket.create_connection(server.address, timeout=timeout) as sock:
        sock.sendall(data)
        return parse_response(read_all(sock))


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def raw_get(server: OrchestratorServer, target: str, token: str | None = None) -> RawResponse:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    line = f"GET {target} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n"
    return send_raw(server, line.encode("latin-1"))


class Client:
    """http.client with JSON in and out (it sends paths as given, without normalising)."""

    def __init__(self, server: OrchestratorServer, token: str | None = None) -> None:
        self.address = server.address
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        all_headers = dict(headers or {})
        if self.token:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            received = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        assert "content-type" in received
        assert received["content-length"] == str(len(data)) or method == "HEAD"
        document = json.loads(data) if received["content-type"] == "application/json" else data
        return response.status, received, document


@pytest.fixture
def client(http_server: OrchestratorServer) -> Iterator[Client]:
    """A client of the in-thread server; checks /healthz still answers afterwards."""
    yield Client(http_server)
    status, _, health = Client(http_server).request("GET", "/healthz")
    assert (status, health["status"]) == (200, "ok")


@pytest.fixture
def project_id(client: Client) -> str:
    status, _, project = client.request("POST", "/api/v1/projects", {"instruction": FIBONACCI})
    assert status == 200, project
    identifier: str = project["id"]
    return identifier


def test_the_seed_calls(client: Client, http_server: OrchestratorServer) -> None:
    status, headers, project = client.request(
        "POST", "/api/v1/projects", {"instruction": FIBONACCI}
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert (project["status"], project["job"]["status"]) == ("completed", "completed")
    pid = project["id"]

    status, _, listing = client.request("GET", f"/api/v1/{pid}/files")
    assert status == 200
    assert [entry["path"] for entry in listing["files"]] == SEED_FILES

    status, _, app = client.request("GET", f"/api/v1/{pid}/files/app.py")
    assert status == 200
    assert "fibonacci" in app["content"]
    assert app["size"] == len(app["content"].encode())

    status, _, result = client.request("GET", f"/api/v1/{pid}/files/.codex/result.json")
    assert (status, json.loads(result["content"])["status"]) == (200, "success")

    status, _, job = client.request(
        "POST", f"/api/v1/{pid}/jobs", {"job_type": "edit", "instruction": "Explain the flags."}
    )
    assert (status, job["status"], job["error"]) == (200, "completed", None)
    status, _, again = client.request("GET", f"/api/v1/{pid}/jobs/{job['id']}")
    assert (status, again) == (200, job)
    status, _, listing = client.request("GET", f"/api/v1/{pid}/files")
    assert [entry["path"] for entry in listing["files"]] == SEED_FILES


@pytest.mark.parametrize(
    "raw", ["app.py/.", "./app.py", "app.py/%2e", "tests/./x.py", "app.py/", "tests//x.py"]
)
def test_dot_and_empty_segments_are_400_as_dot_dot_is(
    project_id: str, http_server: OrchestratorServer, raw: str
) -> None:
    """Issue 18, finding 8: `files/app.py/.` was served as app.py."""
    response = raw_get(http_server, f"/api/v1/{project_id}/files/{raw}")
    assert response.status == 400, (raw, response.body)
    detail = response.json()["detail"]
    assert detail.startswith("file path: ")
    assert "segment" in detail


def test_traversal_is_400_and_never_shows_outside_content(
    client: Client, project_id: str, http_server: OrchestratorServer, tmp_path: Path
) -> None:
    root = http_server.orchestrator.workspace_root
    (root / "OUTSIDE-CANARY.txt").write_text(CANARY_TEXT + "\n")
    (tmp_path / "OUTSIDE-CANARY.txt").write_text(CANARY_TEXT + "\n")
    workspace = root / project_id
    (workspace / "escape.txt").symlink_to(root / "OUTSIDE-CANARY.txt")
    (workspace / "door").symlink_to(root, target_is_directory=True)
    for raw in TRAVERSAL:
        response = raw_get(http_server, f"/api/v1/{project_id}/files/{raw}")
        assert response.status == 400, (raw, response.body)
        assert response.json()["detail"].startswith("file path: ")
        assert CANARY_TEXT.encode() not in response.body
        assert PASSWD_LINE.encode() not in response.body
    for target in PROJECT_ID_TRAVERSAL:
        response = raw_get(http_server, target.replace("{id}", project_id))
        assert response.status in (400, 404), (target, response.body)
        assert CANARY_TEXT.encode() not in response.body
    # The listing does not follow either symlink out.
    _, _, listing = client.request("GET", f"/api/v1/{project_id}/files")
    assert [entry["path"] for entry in listing["files"]] == SEED_FILES


def test_a_request_target_that_is_not_utf8_is_400(
    http_server: OrchestratorServer, project_id: str
) -> None:
    close = "Connection: close\r\n\r\n"
    line = f"GET /api/v1/{project_id}/files/\xc0\xae\xc0\xae/x HTTP/1.1\r\n{close}"
    assert send_raw(http_server, line.encode("latin-1")).status == 400
    fullwidth = f"GET /api/v1/{project_id}/files/\uff0e\uff0e/x HTTP/1.1\r\n{close}"
    response = send_raw(http_server, fullwidth.encode("utf-8"))
    assert response.status == 400
    assert "'..' segment" in response.json()["detail"]


def test_safe_missing_file_is_404(client: Client, project_id: str) -> None:
    status, _, body = client.request("GET", f"/api/v1/{project_id}/files/does/not/exist.txt")
    assert status == 404
    assert list(body) == ["detail"]


def test_bad_bodies(client: Client, project_id: str) -> None:
    status, _, body = client.request(
        "POST",
        "/api/v1/projects",
        raw=b'{"instruction": ',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert body["detail"].startswith("body: not valid JSON")
    assert client.request("POST", "/api/v1/projects", {})[0] == 422
    assert client.request("POST", "/api/v1/projects", {"instruction": 42})[0] == 422
    assert (
        client.request(
            "POST", f"/api/v1/{project_id}/jobs", {"job_type": "create", "instruction": "x"}
        )[0]
        == 422
    )
    status, _, body = client.request(
        "POST",
        "/api/v1/projects",
        raw=b'{"instruction": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415
    assert body["detail"].startswith("Content-Type: 'text/plain' is not JSON")


def test_an_oversized_body_is_refused_before_it_is_read(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server()
    with socket.create_connection(server.address, timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /api/v1/projects HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
            b'{"instruction": "'
        )
        # Only the headers and 17 bytes of the claimed gigabyte were sent.
        response = parse_response(read_all(sock))
        assert time.monotonic() - started < 3
    assert response.status == 413
    assert response.headers["connection"] == "close"
    assert "1000000000 bytes is over the limit of 1048576" in response.json()["detail"]


def test_a_client_sending_a_whole_oversized_body_still_reads_413(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server(max_body_bytes=1000)
    # Within what the server reads after a 413 (LINGER_MAX_BYTES) so the answer is not
    # lost to a reset; test_http_desync.py shows it reads no more than that.
    body = json.dumps({"instruction": "x" * 512_000})
    status, _, document = Client(server).request(
        "POST", "/api/v1/projects", raw=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert "over the limit of 1000" in document["detail"]
    assert Client(server).request("GET", "/healthz")[0] == 200


def test_expect_100_continue_with_an_oversized_body(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server(max_body_bytes=10)
    response = send_raw(
        server,
        b"POST /api/v1/projects HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/json\r\nContent-Length: 11\r\n"
        b"Expect: 100-continue\r\n\r\n",
    )
    assert response.status == 413


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"", 411),
        (b"Transfer-Encoding: chunked\r\n", 411),
        (b"Content-Length: -1\r\n", 400),
        (b"Content-Length: 12abc\r\n", 400),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", 400),
    ],
)
def test_post_needs_one_valid_content_length(
    http_server: OrchestratorServer, headers: bytes, status: int
) -> None:
    response = send_raw(
        http_server,
        b"POST /api/v1/projects HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/json\r\n" + headers + b"\r\n",
    )
    assert response.status == status
    assert list(response.json()) == ["detail"]


def test_errors_http_server_answers_itself_are_json(http_server: OrchestratorServer) -> None:
    for line in (
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n",
    ):
        response = send_raw(http_server, line)
        assert response.status in (400, 414, 505)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["detail"].startswith(("request: ", "request line: "))


def test_a_method_it_does_not_serve_is_405_with_allow(http_server: OrchestratorServer) -> None:
    for method in (b"BREW", b"TRACE", b"QUERY"):
        response = send_raw(
            http_server, method + b" /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
        assert response.status == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert response.headers["content-type"] == "application/json"
        assert response.json()["detail"]


def test_a_slow_client_holds_only_its_own_connection(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server(socket_timeout=0.5)
    address = server.address
    with (
        socket.create_connection(address, timeout=5) as idle,
        socket.create_connection(address, timeout=5) as slow_body,
    ):
        idle.sendall(b"GET /heal")  # and nothing more
        slow_body.sendall(
            b"POST /api/v1/projects HTTP/1.1\r\nContent-Type: application/json"
            b'\r\nContent-Length: 20\r\n\r\n{"instr'
        )
        started = time.monotonic()
        assert Client(server).request("GET", "/healthz")[0] == 200
        assert time.monotonic() - started < 0.4  # answered while both are stalled
        assert parse_response(read_all(idle)).status == 408  # closed after the timeout
        assert parse_response(read_all(slow_body)).status == 400
        assert time.monotonic() - started < 3


def test_head_and_keep_alive(http_server: OrchestratorServer) -> None:
    connection = http.client.HTTPConnection(*http_server.address, timeout=5)
    try:
        connection.request("HEAD", "/healthz")
        head = connection.getresponse()
        assert head.status == 200
        assert head.read() == b""
        assert int(head.getheader("Content-Length") or 0) > 0
        for _ in range(3):  # the same connection serves on
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert json.loads(response.read())["status"] == "ok"
    finally:
        connection.close()


def test_a_token_is_required_when_set(start_server: Callable[..., OrchestratorServer]) -> None:
    server = start_server(api_token="tok-123456")
    status, headers, body = Client(server).request(
        "POST", "/api/v1/projects", {"instruction": "x"}
    )
    assert (status, headers["www-authenticate"]) == (401, "Bearer")
    assert body["detail"].startswith("Authorization: ")
    assert Client(server, token="wrong-token").request("GET", "/api/v1/x/files")[0] == 401
    authorized = Client(server, token="tok-123456")
    status, _, project = authorized.request("POST", "/api/v1/projects", {"instruction": "x"})
    assert status == 200
    assert authorized.request("GET", f"/api/v1/{project['id']}/files")[0] == 200
    assert raw_get(server, f"/api/v1/{project['id']}/files/..").status == 401
    assert raw_get(server, f"/api/v1/{project['id']}/files/..", "tok-123456").status == 400
    assert Client(server).request("GET", "/healthz")[0] == 200


def test_no_token_no_header(client: Client) -> None:
    assert client.request("POST", "/api/v1/projects", {"instruction": "x"})[0] == 200


def test_openapi_lists_exactly_the_served_operations(client: Client) -> None:
    status, _, document = client.request("GET", "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert document["info"]["version"] == "0.1.0"
    served = {(route.method.lower(), route.openapi_path) for route in ROUTES}
    documented = {
        (method, path) for path, methods in document["paths"].items() for method in methods
    }
    assert documented == served
    schemas = document["components"]["schemas"]
    for path, methods in document["paths"].items():
        for operation in methods.values():
            assert operation["operationId"]
            assert "200" in operation["responses"]
            names = set(re.findall(r"\{(\w+)\}", path))
            assert {p["name"] for p in operation.get("parameters", [])} == names
            for reference in re.findall(r'"#/components/schemas/(\w+)"', json.dumps(operation)):
                assert reference in schemas
    create = document["paths"]["/api/v1/projects"]["post"]
    assert set(create["responses"]) >= {"200", "400", "413", "415", "422"}
    status, headers, page = client.request("GET", "/docs")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"POST /api/v1/{project_id}/jobs" in page


def test_a_restart_fails_the_jobs_it_interrupted(
    start_server: Callable[..., OrchestratorServer], tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "orchestrator.db")
    project = ProjectRecord(
        "c" * 32, "build", "running", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"
    )
    job = JobRecord(
        "d" * 32,
        project.id,
        "create",
        "build",
        "running",
        "2024-01-01T00:00:00.000Z",
        started_at="2024-01-01T00:00:00.001Z",
    )
    storage.add_project(project, job)
    storage.close()

    server = start_server()  # the same database: make_settings puts it in tmp_path
    status, _, body = Client(server).request("GET", f"/api/v1/projects/{project.id}")
    assert status == 200
    assert body["status"] == "failed"
    assert body["job"]["status"] == "failed"
    assert body["job"]["error"] == {
        "type": "interrupted",
        "message": "the orchestrator restarted while this job was running",
    }
    assert body["job"]["finished_at"] is not None


class ServerProcess:
    """`python -m pytest_codex_orchestrator serve --port 0` with its stdout read line by line."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest_codex_orchestrator",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={
                **os.environ,
                "WORKSPACE_ROOT": str(tmp_path / "workspaces"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                "USE_DUMMY_WORKER": "true",
                **env,
            },
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, self.process.stderr.read() if self.process.stderr else ""
        self.start = json.loads(line)
        assert self.start["event"] == "start"
        self.address = ("127.0.0.1", int(self.start["port"]))

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> int:
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(
                method,
                path,
                body=payload,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def terminate(self) -> tuple[float, str, str]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        stdout, stderr = self.process.communicate(timeout=10)
        return time.monotonic() - started, stdout.decode(), stderr.decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ServerProcess]]:
    """Starts the orchestrator as a process; killed at teardown if still running."""
    started: list[ServerProcess] = []

    def run(env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(tmp_path, env)
        started.append(server)
        return server

    yield run
    for server in started:
        server.kill()


def test_sigterm_stops_the_process_within_a_second(
    run_server: Callable[[dict[str, str]], ServerProcess],
) -> None:
    server = run_server({})
    assert server.request("GET", "/healthz") == 200
    elapsed, stdout, _ = server.terminate()
    assert elapsed < 1.0
    assert server.process.returncode == 0
    events = [json.loads(line)["event"] for line in stdout.splitlines()]
    # The request's own log line follows its response, so it may come after "stopping".
    assert events[-1] == "stop"
    assert "stopping" in events[:-1]


def test_logs_never_show_a_secret(run_server: Callable[[dict[str, str]], ServerProcess]) -> None:
    canaries = {
        "OPENAI_API_KEY": f"canary-key-{secrets.token_hex(8)}",
        "OPENAI_ORG_ID": f"canary-org-{secrets.token_hex(4)}",
        "CODEX_API_TOKEN": f"canary-token-{secrets.token_hex(8)}",
    }
    server = run_server(canaries)
    assert server.start["env"] == {
        "OPENAI_API_KEY": "present",
        "OPENAI_ORG_ID": "present",
        "OPENAI_PROJECT": "absent",
    }
    token = {"Authorization": f"Bearer {canaries['CODEX_API_TOKEN']}"}
    assert (
        server.request(
            "POST", "/api/v1/projects", {"instruction": f"use {canaries['OPENAI_API_KEY']}"}, token
        )
        == 200
    )
    # A request whose path holds a secret is logged with the secret masked.
    assert server.request("GET", f"/api/v1/{canaries['OPENAI_API_KEY']}/files", None, token) == 400
    assert (
        server.request(
            "GET",
            "/api/v1/projects/x",
            None,
            {"Authorization": f"Bearer {canaries['OPENAI_ORG_ID']}"},
        )
        == 401
    )
    _, stdout, stderr = server.terminate()
    for value in canaries.values():
        assert value not in stdout
        assert value not in stderr
    assert '"path": "/api/v1/***/files"' in stdout
    assert all(json.loads(line)["ts"] for line in stdout.splitlines())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"USE_DUMMY_WORKER": "maybe"},
            "codex-orchestrator: USE_DUMMY_WORKER: 'maybe' is not a boolean; use true or false\n",
        ),
        (
            {"DATABASE_URL": "postgres://db/x"},
            "codex-orchestrator: DATABASE_URL: 'postgres://db/x' is not a sqlite URL; use "
            "sqlite:///relative/path or sqlite:////absolute/path\n",
        ),
    ],
)
def test_a_configuration_error_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_codex_orchestrator", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "WORKSPACE_ROOT": str(tmp_path / "ws"), **env},
    )
    assert (done.returncode, done.stderr, done.stdout) == (2, message, "")


def test_many_idle_connections_do_not_block_a_request(http_server: OrchestratorServer) -> None:
    idle = [socket.create_connection(http_server.address, timeout=5) for _ in range(200)]
    try:
        for sock in idle[::2]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # half a request, then nothing
        response = send_raw(http_server, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert response.status == 200
        assert response.json()["status"] == "ok"
    finally:
        for sock in idle:
            sock.close()

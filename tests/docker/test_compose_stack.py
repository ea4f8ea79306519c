"""The bundled stack in real Docker: image build, compose up to healthy, the seed calls,
the whole mocked matrix through the plugin, and teardown."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_codex import stack, verify
from tests.conftest import REPO

COMPOSE_FILE = REPO / "service" / "compose.yaml"
FIBONACCI = ("Create a Python CLI app that prints the first 10 Fibonacci numbers, "
             "with a README and a pytest test.")
SEED_FILES = [".codex/request.json", ".codex/result.json", "README.md", "app.py",
              "tests/test_cli.py"]


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
        edit = client.post(f"/api/v1/{project['id']}/jobs",
                           json={"job_type": "edit", "instruction": "Add a comment."})
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


def test_mocked_matrices_through_compose(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked", f"--codex-matrix={REPO / 'matrices'}",
        "--codex-evidence-dir=evidence", "-p", "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 55
    result.stdout.fnmatch_lines(["*codex evidence*", "timings: stack_start *"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    assert verify.main(["verify", str(bundle)]) == 0
    log = (bundle / "logs" / "service.log").read_text()
    assert '"event": "request"' in log or '"event":"request"' in log
    listings = list((bundle / "workspaces").glob("*.json"))
    assert listings, "no workspace listing in the bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["metadata"]["versions"]["docker"] not in ("", "not used", "unavailable")
    assert set(manifest["metadata"]["timings_s"]) >= {"stack_start", "cases", "teardown"}


def test_startup_failure_shows_the_service_logs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace(
            "USE_DUMMY_WORKER: ${USE_DUMMY_WORKER:-true}", "USE_DUMMY_WORKER: maybe"
        ).replace("context: ..", f"context: {REPO}")
    )
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "one.yaml").write_text(
        "name: one\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n")
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked", f"--codex-compose-file={broken}", "--codex-startup-timeout=15",
        "--codex-evidence-dir=evidence", "matrices",
    )
    result.assert_outcomes(errors=1)
    # The container exits at once: either no port is published or /healthz never answers;
    # either way the message carries the service's own last words.
    result.stdout.fnmatch_lines(["*codex stack: *last service log lines:*",
                                 "*USE_DUMMY_WORKER*maybe*"])
    result.stdout.no_fnmatch_line("*Traceback*")

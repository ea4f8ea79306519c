"""The rollback against a real live hermetic stack (real Docker, the real worker and model
stand-in): it clears every worker of the run that still exists, counted from the run's
own start, and records it; its mocked orchestrator runs as a project of its own on a
fresh port with the live state, so the live orchestrator is only stopped and starts
again on its own port; the mocked stack leaves nothing but the live volumes behind."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.config.settings import Target
from pytest_codex.secrets.redact import Redactor
from pytest_codex.target import compose as stack
from pytest_codex.target import leftovers, rollback, rollback_stack
from tests.conftest import REPO, free_port

SERVICE = REPO / "service"
LIVE_FILES = (
    SERVICE / "compose.yaml",
    SERVICE / "compose.live.yaml",
    SERVICE / "compose.hermetic.yaml",
)
KEY = f"sk-canary-rollback-{secrets.token_hex(8)}"
TOKEN = secrets.token_urlsafe(32)


def docker(*argv: str) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def get(url: str) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body: dict[str, object] = json.loads(answer.read())
    return body


def wait_health(base_url: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body = stack.health(base_url, 2)
        if body or time.monotonic() > deadline:
            return body
        time.sleep(0.25)


@pytest.fixture
def live_stack(
    tmp_path: Path, worker_image: str, orchestrator_image: str
) -> Iterator[tuple[stack.Compose, Path, float]]:
    del worker_image, orchestrator_image  # built as the live stack builds them
    root = tmp_path / "workspaces"
    root.mkdir()
    project = leftovers.project_name()  # this process's: no other run sweeps it
    env = {
        **os.environ,
        "CODEX_WORKSPACE_ROOT": str(root),
        "CODEX_RUN_ID": project,
        "CODEX_HOST_PORT": str(free_port()),
        "CODEX_API_TOKEN": TOKEN,
        "USE_DUMMY_WORKER": "false",
        "OPENAI_API_KEY": KEY,
        "MODEL_STUB_EXPECTED_KEY": KEY,
    }
    live = stack.Compose(stack.detect_compose_command(), LIVE_FILES, project, env)
    run_started = time.time()
    try:
        live.run("up", "-d")
        yield live, root, run_started
    finally:
        leftovers.remove(project + rollback_stack.SUFFIX)
        live.run("down", "-v", "--remove-orphans", "-t", "5")
        leftovers.remove(project)


def test_rollback_clears_the_runs_workers_and_leaves_the_live_orchestrator_startable(
    live_stack: tuple[stack.Compose, Path, float], tmp_path: Path, base_image: str
) -> None:
    live, root, run_started = live_stack
    live_url = f"http://127.0.0.1:{live.env['CODEX_HOST_PORT']}"
    assert wait_health(live_url).get("mode") == "live"
    # One real live project (through a worker and the stand-in), read back afterwards.
    request = urllib.request.Request(
        f"{live_url}/api/v1/projects",
        data=json.dumps({"instruction": "Create the Fibonacci CLI."}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert json.loads(answer.read())["status"] == "completed"
    # A worker of the run still running when the rollback begins (a job in flight).
    in_flight = docker(
        "run", "-d", "--label", "io.pytest-codex.role=worker",
        "--label", f"io.pytest-codex.run={live.project}", base_image, "sleep", "300",
    )  # fmt: skip
    original = live.run("ps", "-q", "orchestrator").split()[-1]
    bundle = EvidenceBundle(tmp_path / "evidence", "mocked", Redactor({"KEY": KEY}))
    report = rollback.roll_back(
        live, (SERVICE / "compose.yaml",), bundle,
        workspace_root=root, leak_markers=("root:x:0:0:",), startup_timeout=60,
        request_timeout=30, target=Target(), run_started=run_started, keep=True,
    )  # fmt: skip
    assert report.passed, report.as_dict()
    workers = report.checks["live_workers"]
    assert workers["removed"] == [in_flight[:12]]
    assert workers["remaining"] == []
    assert workers["created_since_run_start"] >= 2  # the project's worker and the planted one
    assert report.checks["workers_remaining"] == 0
    assert report.checks["live_projects_readable"] == "1/1"  # the live state is shared
    assert docker("ps", "-aq", "--filter", f"id={in_flight}") == ""
    # The mocked orchestrator has a port of its own; the live one is stopped, not replaced.
    assert report.base_url is not None
    assert report.base_url != live_url
    [state] = json.loads(docker("inspect", original))
    assert state["State"]["Status"] == "exited"
    assert live.run("ps", "-aq", "orchestrator").split()[-1] == original
    docker("start", original)
    assert wait_health(live_url).get("mode") == "live"
    assert wait_health(report.base_url).get("mode") == "mocked"  # both at once
    mocked_project = f"com.docker.compose.project={live.project}{rollback_stack.SUFFIX}"
    assert docker("ps", "-q", "--filter", f"label={mocked_project}") != ""

    # Without `keep` the mocked stack goes at the end, and the live volume stays.
    again = rollback.roll_back(
        live, (SERVICE / "compose.yaml",), bundle,
        workspace_root=root, leak_markers=("root:x:0:0:",), startup_timeout=60,
        request_timeout=30, target=Target(), run_started=run_started,
    )  # fmt: skip
    assert again.passed, again.as_dict()
    assert again.checks["live_workers"]["removed"] == []
    assert docker("ps", "-aq", "--filter", f"label={mocked_project}") == ""
    assert docker("volume", "ls", "-q", "--filter", f"name={live.project}_state") != ""
    assert KEY not in json.dumps(report.as_dict()) + json.dumps(again.as_dict())

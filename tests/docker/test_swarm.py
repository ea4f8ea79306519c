"""The swarm worker backend for real, on a single-node swarm (the `swarm_engine` fixture
creates it when the engine is in none, and leaves it only then): a job is a
`replicated-job` service with the container worker's hardening, the key reaches it as a
Docker secret only (in no service spec, no container's configuration, no log), and the
service and its secrets are gone after the job, a timed-out one too. Every name here is
unique to the run, so other tests on the same engine are never touched."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from pytest_codex_orchestrator.swarm_worker import SwarmWorker
from tests.conftest import REPO
from tests.docker.conftest import build

KEY = f"sk-canary-swarm-{secrets.token_hex(6)}"
TAG = secrets.token_hex(4)
WAIT_S = 60  # for a service or task to show up
HEALTH = (
    'python3 -c "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)\""
)


def docker(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["docker", *argv], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for(what: str, look: Any) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = look()
        if found:
            return str(found).strip()
        time.sleep(0.1)
    raise AssertionError(f"{what} did not show up within {WAIT_S} s")


@pytest.fixture(scope="module")
def images(base_image: str) -> Iterator[tuple[str, str]]:
    """The worker and orchestrator images built from this checkout under tags of this
    module's own (another session on the engine may rebuild `:latest` meanwhile); the
    tags are removed at the end."""
    tags = (f"codex-worker:swarmtest-{TAG}", f"pytest-codex/orchestrator:swarmtest-{TAG}")
    for tag, folder in zip(tags, (REPO / "service" / "worker", REPO / "service"), strict=True):
        build("-t", tag, "--build-arg", f"BASE_IMAGE={base_image}", str(folder))
    yield tags
    docker("image", "rm", *tags, check=False)


@pytest.fixture
def worker_image(images: tuple[str, str]) -> str:
    """This module's own worker image (overrides the conftest's `:latest` one)."""
    return images[0]


@pytest.fixture
def stub_network(swarm_engine: bool, images: tuple[str, str]) -> Iterator[str]:
    """An internal overlay network holding the model stand-in as `model-stub`, its
    expected key a Docker secret, as in the hermetic swarm stack."""
    name = f"pytest-codex-swarmtest-{secrets.token_hex(4)}"
    label = f"io.pytest-codex.run={name}"
    docker("network", "create", "-d", "overlay", "--internal", "--label", label, name)
    docker("secret", "create", "--label", label, f"{name}-stub-key", "-", stdin=KEY)
    try:
        docker(
            "service", "create", "--detach", "--name", f"{name}-stub",
            "--network", f"name={name},alias=model-stub", "--endpoint-mode", "dnsrr",
            "--health-cmd", HEALTH, "--health-interval", "1s", "--health-start-period", "1s",
            "--secret", f"source={name}-stub-key,target=stub_key",
            "--env", "MODEL_STUB_EXPECTED_KEY_FILE=/run/secrets/stub_key",
            "--env", "MODEL_STUB_TURN_DELAY_S=1",
            "--label", label, "--container-label", "io.pytest-codex.role=model-stub",
            images[1], "python3", "-m", "pytest_codex_model_stub",
            "serve", "--host", "0.0.0.0", "--port", "8080",
        )  # fmt: skip
        wait_for(
            "the model stand-in, healthy",
            lambda: (
                "Running"
                in docker("service", "ps", "--format", "{{.CurrentState}}", f"{name}-stub")
            ),
        )
        yield name
    finally:
        docker("service", "rm", f"{name}-stub", check=False)
        time.sleep(1)  # the task lets go of the secret and the network
        docker("secret", "rm", f"{name}-stub-key", check=False)
        docker("network", "rm", name, check=False)


def make_workspace(root: Path, job_id: str, instruction: str) -> tuple[Path, dict[str, Any]]:
    workspace = root / ("d" * 32)
    (workspace / ".codex").mkdir(parents=True)
    request = {
        "job_id": job_id,
        "project_id": "d" * 32,
        "job_type": "create",
        "instruction": instruction,
    }
    (workspace / ".codex" / "request.json").write_text(json.dumps(request))
    return workspace, request


def left_of_job(job_id: str) -> str:
    label = f"label=io.pytest-codex.job={job_id}"
    return (
        docker("service", "ls", "-q", "--filter", label)
        + docker("secret", "ls", "-q", "--filter", label)
        + docker("ps", "-aq", "--filter", label)
    ).strip()


def test_a_swarm_job_is_sandboxed_gets_the_key_as_a_secret_only_and_leaves_nothing(
    worker_image: str, stub_network: str, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    job_id = f"swarm-{secrets.token_hex(4)}"
    workspace, request = make_workspace(root, job_id, "Create a Fibonacci CLI")
    worker = SwarmWorker(
        image=worker_image,
        workspace_root=root,
        job_timeout_s=60,
        network=stub_network,
        environ={
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": "http://model-stub:8080/v1",
            "CODEX_RUN_ID": stub_network,
        },
    )
    outcome: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run(workspace, request)))
    thread.start()
    label = f"label=io.pytest-codex.job={job_id}"
    service_id = wait_for(
        "the job service", lambda: docker("service", "ls", "-q", "--filter", label)
    )
    container_id = wait_for("the job's container", lambda: docker("ps", "-q", "--filter", label))
    service_text = docker("service", "inspect", service_id)
    container_text = docker("inspect", container_id)
    inside = docker(
        "exec", container_id, "sh", "-c",
        "id -u; test -e /var/run/docker.sock && echo socket || echo no-socket; "
        "touch /etc/x 2>/dev/null && echo writable || echo read-only; "
        "stat -c %u:%a /run/secrets/openai_api_key",
    )  # fmt: skip
    thread.join(timeout=120)

    [spec] = [entry["Spec"] for entry in json.loads(service_text)]
    assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    task = spec["TaskTemplate"]
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Resources"]["Limits"] == {
        "NanoCPUs": 10**9,
        "MemoryBytes": 1024**3,
        "Pids": 256,
    }
    container = task["ContainerSpec"]
    assert container["User"] == "1000:1000"
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert sorted(m["Target"] for m in container["Mounts"]) == [
        "/home/worker",
        "/tmp",
        "/workspace",
    ]
    assert [s["File"]["Name"] for s in container["Secrets"]] == ["openai_api_key"]
    assert "OPENAI_API_KEY_FILE=/run/secrets/openai_api_key" in container["Env"]
    assert spec["Labels"]["io.pytest-codex.run"] == stub_network
    [info] = json.loads(container_text)
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["PidsLimit"] == 256
    assert inside.split() == ["1000", "no-socket", "read-only", "1000:400"]
    assert KEY not in service_text
    assert KEY not in container_text

    [result] = outcome
    assert schemas.errors("result", result) == [], result
    assert result["status"] == "success", result
    assert "app.py" in result["created_files"]
    assert result["logs"]["env"]["OPENAI_API_KEY"] == "present"
    assert left_of_job(job_id) == ""
    for name in ("events.jsonl", "worker.log"):
        kept = (root / ".jobs" / job_id / name).read_text()
        assert KEY not in kept
    assert "turn.completed" in (root / ".jobs" / job_id / "events.jsonl").read_text()


def test_a_swarm_job_past_its_timeout_is_removed_and_leaves_a_structured_error(
    worker_image: str, stub_network: str, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    job_id = f"swarm-{secrets.token_hex(4)}"
    workspace, request = make_workspace(root, job_id, "Create it [model-stub:hang]")
    worker = SwarmWorker(
        image=worker_image,
        workspace_root=root,
        job_timeout_s=4,  # the entrypoint's own limit (5 s at least) comes later
        network=stub_network,
        environ={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://model-stub:8080/v1"},
    )
    started = time.monotonic()
    result = worker.run(workspace, request)

    assert time.monotonic() - started < 30
    assert schemas.errors("result", result) == []
    assert result["error"]["type"] == "timeout", result
    assert "removed" in result["error"]["message"]
    assert json.loads((workspace / ".codex" / "result.json").read_text()) == result
    assert left_of_job(job_id) == ""


def test_a_swarm_job_whose_image_is_missing_is_a_structured_error(
    swarm_engine: bool, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    job_id = f"swarm-{secrets.token_hex(4)}"
    workspace, request = make_workspace(root, job_id, "Create it")
    worker = SwarmWorker(
        image=f"pytest-codex/no-such-image:{secrets.token_hex(4)}",
        workspace_root=root,
        job_timeout_s=60,
        environ={"OPENAI_API_KEY": KEY},
    )
    result = worker.run(workspace, request)

    assert schemas.errors("result", result) == []
    assert result["error"]["type"] == "worker_image_missing", result
    assert left_of_job(job_id) == ""

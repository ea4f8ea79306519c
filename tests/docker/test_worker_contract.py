"""The live worker container, inspected while it runs: non-root, no capabilities,
no-new-privileges, read-only root, memory/CPU/pids limits, no Docker socket inside; a
job past its timeout is killed, ends as a structured error, and leaves no container."""

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
from pytest_codex_orchestrator.container_worker import ContainerWorker

KEY = f"sk-canary-contract-{secrets.token_hex(6)}"


def docker(*argv: str, check: bool = True) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def stub_network(orchestrator_image: str) -> Iterator[str]:
    """A network holding the model stand-in as `model-stub`, like the hermetic stack."""
    name = f"pytest-codex-contract-{secrets.token_hex(4)}"
    docker("network", "create", name)
    docker(
        "run",
        "-d",
        "--name",
        f"{name}-stub",
        "--network",
        name,
        "--network-alias",
        "model-stub",
        "-e",
        f"MODEL_STUB_EXPECTED_KEY={KEY}",
        "--label",
        "io.pytest-codex.role=model-stub",
        orchestrator_image,
        "python3",
        "-m",
        "pytest_codex_model_stub",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    )
    yield name
    docker("rm", "-f", f"{name}-stub", check=False)
    docker("network", "rm", name, check=False)


def test_a_running_worker_is_sandboxed_and_a_hung_job_is_killed(
    worker_image: str, stub_network: str, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    workspace = root / ("c" * 32)
    (workspace / ".codex").mkdir(parents=True)
    worker = ContainerWorker(
        image=worker_image,
        workspace_root=root,
        job_timeout_s=15,
        network=stub_network,
        environ={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://model-stub:8080/v1"},
    )
    job_id = f"contract-{secrets.token_hex(4)}"
    request = {
        "job_id": job_id,
        "project_id": "c" * 32,
        "job_type": "create",
        "instruction": "Create it [model-stub:hang]",
    }
    (workspace / ".codex" / "request.json").write_text(json.dumps(request))
    outcome: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run(workspace, request)))
    started = time.monotonic()
    thread.start()

    container_id = ""
    while not container_id and time.monotonic() - started < 10:
        container_id = docker("ps", "-q", "--filter", f"label=io.pytest-codex.job={job_id}")
        time.sleep(0.1)
    assert container_id, "the worker container never ran"
    [info] = json.loads(docker("inspect", container_id.strip()))
    host = info["HostConfig"]
    assert info["Config"]["User"] == "1000:1000"
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == 1024**3
    assert host["MemorySwap"] == 1024**3
    assert host["NanoCpus"] == 10**9
    assert host["PidsLimit"] == 256
    assert host["Privileged"] is False
    assert [m["Destination"] for m in info["Mounts"]] == ["/workspace"]
    assert set(host["Tmpfs"]) == {"/home/worker", "/tmp", "/run/codex-secrets"}
    assert info["Config"]["Labels"]["io.pytest-codex.role"] == "worker"
    inside = docker(
        "exec",
        container_id.strip(),
        "sh",
        "-c",
        "id -u; test -e /var/run/docker.sock && echo socket || echo no-socket; "
        "touch /etc/x 2>/dev/null && echo writable || echo read-only",
    )
    assert inside.split() == ["1000", "no-socket", "read-only"]
    # The key is nowhere in the worker's configuration while it runs: only the path of
    # the file on its tmpfs (docs/security.md); it came through stdin.
    assert KEY not in docker("inspect", container_id.strip())
    engine_root = docker("info", "--format", "{{.DockerRootDir}}").strip()
    stored = Path(engine_root) / "containers" / info["Id"] / "config.v2.json"
    assert KEY not in stored.read_text()
    env = dict(entry.split("=", 1) for entry in info["Config"]["Env"])
    assert env["OPENAI_API_KEY_FILE"] == "/run/codex-secrets/OPENAI_API_KEY"
    assert env["CODEX_SECRETS_STDIN"] == "1"
    assert "OPENAI_API_KEY" not in env
    secret_file = docker(
        "exec", container_id.strip(), "stat", "-c", "%a %u", "/run/codex-secrets/OPENAI_API_KEY"
    )
    assert secret_file.split() == ["600", "1000"]

    thread.join(timeout=60)
    [result] = outcome
    assert schemas.errors("result", result) == []
    assert result["status"] == "failed"
    # A timeout, not `auth`: the stand-in checks the key before it hangs, so the key
    # came through stdin.
    assert result["error"]["type"] in ("timeout",)
    assert time.monotonic() - started < 40
    assert docker("ps", "-aq", "--filter", f"label=io.pytest-codex.job={job_id}") == ""
    on_disk = json.loads((workspace / ".codex" / "result.json").read_text())
    assert on_disk["error"]["type"] == "timeout"
    assert KEY not in (root / ".jobs" / job_id / "events.jsonl").read_text()

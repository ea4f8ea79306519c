"""The swarm worker without an engine: how it is chosen, the service spec it sends (no
secret value in it), and where it reads the secrets it hands to a job. The swarm itself
is exercised in tests/docker/test_swarm.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex_model_stub.__main__ import expected_key
from pytest_codex_orchestrator.config import ConfigError, Settings
from pytest_codex_orchestrator.container_worker import ContainerWorker
from pytest_codex_orchestrator.live_worker import secret_values
from pytest_codex_orchestrator.swarm_spec import service_spec
from pytest_codex_orchestrator.swarm_worker import SwarmWorker
from pytest_codex_orchestrator.workers import select_worker

CANARY = "sk-canary-swarm-unit-4242"


def test_the_backend_is_chosen_by_environment_and_checked() -> None:
    assert Settings.from_env({}).worker_backend == "container"
    live = {"USE_DUMMY_WORKER": "false"}
    assert isinstance(select_worker(Settings.from_env(live), live), ContainerWorker)
    swarm = {**live, "CODEX_WORKER_BACKEND": " Swarm "}
    assert isinstance(select_worker(Settings.from_env(swarm), swarm), SwarmWorker)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"CODEX_WORKER_BACKEND": "kubernetes"})
    assert str(raised.value) == (
        "CODEX_WORKER_BACKEND: 'kubernetes' is not a worker backend; use container or swarm"
    )


def test_secrets_come_from_the_variable_or_the_file_it_names(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text(CANARY + "\n")
    assert secret_values({"OPENAI_API_KEY": CANARY}) == {"OPENAI_API_KEY": CANARY}
    assert secret_values({"OPENAI_API_KEY_FILE": str(key), "OPENAI_PROJECT": "p"}) == {
        "OPENAI_API_KEY": CANARY,
        "OPENAI_PROJECT": "p",
    }
    assert secret_values({"OPENAI_API_KEY_FILE": str(tmp_path / "missing")}) == {}


def test_the_job_spec_is_a_hardened_one_shot_job_without_secret_values(tmp_path: Path) -> None:
    spec = service_spec(
        image="codex-worker:latest",
        name="codex-job-1",
        workspace=tmp_path,
        labels={"io.pytest-codex.role": "worker"},
        environment={"OPENAI_API_KEY_FILE": "/run/secrets/openai_api_key"},
        secret_refs=[],
        network="workers",
        memory="1g",
        cpus=0.5,
        pids=128,
    )
    assert spec["mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert spec["endpoint_spec"] == {"Mode": "dnsrr"}
    task = spec["task_template"]
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Resources"]["Limits"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 1 << 30,
        "Pids": 128,
    }
    container = task["ContainerSpec"]
    assert container["User"] == "1000:1000"
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert [(m["Target"], m["Type"]) for m in container["Mounts"]] == [
        ("/workspace", "bind"),
        ("/home/worker", "tmpfs"),
        ("/tmp", "tmpfs"),
    ]
    assert task["Networks"] == [{"Target": "workers"}]
    assert CANARY not in json.dumps(spec)


def test_the_model_stub_reads_its_expected_key_from_a_file(tmp_path: Path) -> None:
    key = tmp_path / "stub_key"
    key.write_text(CANARY + "\n")
    assert expected_key({"MODEL_STUB_EXPECTED_KEY_FILE": str(key)}) == CANARY
    assert expected_key({"MODEL_STUB_EXPECTED_KEY": "k"}) == "k"
    assert expected_key({}) is None


def test_an_unreadable_key_file_stops_the_model_stub_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_codex_model_stub", "serve", "--port", "0"],
        env={**os.environ, "MODEL_STUB_EXPECTED_KEY_FILE": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "pytest_codex_model_stub: error: MODEL_STUB_EXPECTED_KEY_FILE: cannot read it "
        "(No such file or directory); mount the secret there or unset the variable"
    )
    assert "Traceback" not in done.stderr

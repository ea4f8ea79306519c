"""The worker entrypoint takes its secrets from files named by `<NAME>_FILE` (how a swarm
job gets them: Docker secrets under /run/secrets), and a file it cannot read ends the job
with a structured error, never a run without the key."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from pytest_codex import schemas
from tests.live.conftest import STUB_KEY, Stub
from tests.live.test_entrypoint import ENTRYPOINT, SYSTEM_PYTHON


def run_with(
    workspace: Path, stub: Stub, binary: Path, secrets: dict[str, str]
) -> dict[str, object]:
    (workspace / ".codex").mkdir(parents=True)
    (workspace.parent / "home").mkdir()
    (workspace / ".codex" / "request.json").write_text(
        json.dumps({"job_id": "job-f", "job_type": "create", "instruction": "Create it."})
    )
    home = workspace.parent / "home"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "CODEX_WORKSPACE": str(workspace),
        "CODEX_BIN": str(binary),
        "CODEX_WORKER_TIMEOUT": "60",
        "OPENAI_BASE_URL": f"{stub.url}/v1",
        **secrets,
    }
    done = subprocess.run(
        [SYSTEM_PYTHON, str(ENTRYPOINT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert STUB_KEY not in done.stdout + done.stderr
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    assert schemas.errors("result", result) == []
    return dict(result)


def test_the_key_from_a_secret_file_reaches_the_model(
    tmp_path: Path, model_stub: Stub, codex_binary: Path
) -> None:
    workspace = tmp_path / "ws"
    secret = workspace.parent / "openai_api_key"
    secret.write_text(STUB_KEY + "\n")  # a trailing newline, as `echo` writes one
    result = run_with(workspace, model_stub, codex_binary, {"OPENAI_API_KEY_FILE": str(secret)})
    assert result["status"] == "success", result
    assert result["logs"] == {
        "env": {"OPENAI_API_KEY": "present", "OPENAI_ORG_ID": "absent", "OPENAI_PROJECT": "absent"}
    }


def test_an_unreadable_secret_file_is_a_structured_error(
    tmp_path: Path, model_stub: Stub, codex_binary: Path
) -> None:
    workspace = tmp_path / "ws"
    missing = workspace.parent / "no-such-secret"
    result = run_with(workspace, model_stub, codex_binary, {"OPENAI_API_KEY_FILE": str(missing)})
    assert result["status"] == "failed"
    assert result["error"] == {
        "type": "secrets_unavailable",
        "message": "the worker's secrets: OPENAI_API_KEY_FILE cannot be read "
        "(FileNotFoundError); check the secret's mount and its owner (uid 1000)",
        "exit_code": None,
    }

"""The worker entrypoint runs the real Codex CLI against the model stand-in and writes a
result.json that tells the truth: success only when the turn completed and every file
change worked; a structured error otherwise. Canary secrets never show up anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from pytest_codex_orchestrator import model_proxy
from tests.conftest import REPO, free_port
from tests.live.conftest import STUB_KEY, Stub

ENTRYPOINT = REPO / "service" / "worker" / "entrypoint.py"
ORG = "org-canary-entry-5151"
PROJECT = "proj-canary-entry-6262"
CANARIES = (STUB_KEY, ORG, PROJECT)
SECRET_NAMES = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT")
# The entrypoint is standard-library Python run by the image's python3; the system one
# stands in for it here (any user can run it, unlike a virtual environment under /root).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin") or sys.executable


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    result: dict[str, Any]
    seconds: float


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A workspace any user can enter (one test runs the worker as an unprivileged user)."""
    root = Path(tempfile.mkdtemp(prefix="pytest-codex-worker-"))
    root.chmod(0o755)
    (root / "ws" / ".codex").mkdir(parents=True)
    (root / "home").mkdir()
    yield root / "ws"
    for path in root.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(root)


def run_worker(
    workspace: Path,
    stub: Stub,
    binary: Path,
    instruction: str,
    job_type: str = "create",
    *,
    timeout: str = "60",
    user: int | None = None,
    key: str = STUB_KEY,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Run:
    (workspace / ".codex" / "request.json").write_text(
        json.dumps(
            {
                "job_id": "job-1",
                "project_id": "p" * 32,
                "job_type": job_type,
                "instruction": instruction,
                "created_at": "2026-11-25T00:00:00Z",
            }
        )
    )
    home = workspace.parent / "home"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "CODEX_WORKSPACE": str(workspace),
        "CODEX_BIN": str(binary),
        "CODEX_WORKER_TIMEOUT": timeout,
        "OPENAI_BASE_URL": f"{stub.url}/v1",
        "OPENAI_API_KEY": key,
        "OPENAI_ORG_ID": ORG,
        "OPENAI_PROJECT": PROJECT,
    }
    env |= extra_env or {}
    if stdin is not None:  # the container worker's way: files named, values on stdin
        folder = workspace.parent / "secrets"
        folder.mkdir(mode=0o700, exist_ok=True)
        for name in SECRET_NAMES:
            del env[name]
            env[f"{name}_FILE"] = str(folder / name)
        env["CODEX_SECRETS_STDIN"] = "1"
    if user is not None:
        for path in (home, workspace / ".codex"):
            os.chown(path, user, user)
    started = time.monotonic()
    done = subprocess.run(
        [SYSTEM_PYTHON, str(ENTRYPOINT)],
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        user=user,
        group=user,
    )
    seconds = time.monotonic() - started
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    written = "".join(p.read_text(errors="replace") for p in workspace.rglob("*") if p.is_file())
    for canary in CANARIES:
        assert canary not in done.stdout + done.stderr + written
    assert schemas.errors("result", result) == []
    return Run(done.returncode, done.stdout, done.stderr, result, seconds)


def test_create_then_edit_through_the_real_cli(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    created = run_worker(workspace, model_stub, codex_binary, "Create the Fibonacci CLI.")
    assert created.code == 0, created.stderr
    result = created.result
    assert result["status"] == "success"
    assert result["worker"] == "codex-cli"
    assert result["worker_version"].startswith("codex-cli ")  # the CLI the worker ran
    assert result["created_files"] == ["README.md", "app.py", "tests/test_cli.py"]
    assert result["logs"]["env"] == dict.fromkeys(
        ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT"), "present"
    )
    assert result["usage"]["output_tokens"] > 0
    assert result["summary"].startswith("Created README.md")
    printed = subprocess.run(
        [sys.executable, str(workspace / "app.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert printed.stdout.split() == ["0", "1", "1", "2", "3", "5", "8", "13", "21", "34"]
    events = [json.loads(line) for line in created.stdout.splitlines()]
    assert events[-1]["type"] == "turn.completed"
    seen = model_stub.requests()[-1]["headers"]
    assert {"authorization", "openai-organization", "openai-project"} <= set(seen)

    edited = run_worker(workspace, model_stub, codex_binary, "Explain the flags.", "edit")
    assert edited.code == 0, edited.stderr
    assert edited.result["status"] == "success"
    assert edited.result["job_type"] == "edit"
    assert (edited.result["created_files"], edited.result["modified_files"]) == ([], ["app.py"])
    assert "# Flags: -n N" in (workspace / "app.py").read_text()


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("401", "auth"), ("500", "server"), ("429", "rate_limit"), ("failed", "response_failed")],
)
def test_each_model_fault_has_its_own_error_type(
    workspace: Path, model_stub: Stub, codex_binary: Path, fault: str, kind: str
) -> None:
    run = run_worker(workspace, model_stub, codex_binary, f"Create it [model-stub:{fault}]")
    assert run.code == 1
    assert run.result["status"] == "failed"
    assert run.result["error"]["type"] == kind, run.result["error"]
    assert run.result["error"]["message"]
    assert run.result["error"]["exit_code"] == 1


def test_a_wrong_key_is_an_auth_error(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    run = run_worker(workspace, model_stub, codex_binary, "Create it", key="sk-canary-wrong-9999")
    assert run.result["error"]["type"] == "auth"
    assert "401" in run.result["error"]["message"]
    assert "sk-canary-wrong-9999" not in run.stdout + run.stderr


def test_a_model_that_never_answers_is_killed_at_the_workers_limit(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    run = run_worker(
        workspace, model_stub, codex_binary, "Create it [model-stub:hang]", timeout="4"
    )
    assert run.result["status"] == "failed"
    assert run.result["error"]["type"] == "timeout"
    assert run.result["error"]["exit_code"] is None
    assert run.seconds < 20


def test_writes_that_all_fail_are_never_a_success(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    workspace.chmod(0o555)  # the worker's user may write only .codex/ and its home
    run = run_worker(workspace, model_stub, codex_binary, "Create the Fibonacci CLI.", user=65534)
    assert run.result["status"] == "failed"
    assert run.result["error"]["type"] == "file_change_failed"
    assert run.result["created_files"] == []
    assert not (workspace / "app.py").exists()


def test_a_missing_cli_and_a_missing_request(
    workspace: Path, model_stub: Stub, tmp_path: Path
) -> None:
    missing = run_worker(workspace, model_stub, tmp_path / "no-codex", "Create it")
    assert missing.result["error"]["type"] == "cli_missing"
    (workspace / ".codex" / "request.json").write_text("{not json")
    done = subprocess.run(
        [sys.executable, str(ENTRYPOINT)],
        capture_output=True,
        timeout=60,
        check=False,
        env={"CODEX_WORKSPACE": str(workspace), "PATH": "/usr/bin"},
    )
    assert done.returncode == 1
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    assert result["error"]["type"] == "bad_request"


def test_a_stalled_stream_is_a_stall_before_the_workers_limit(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    run = run_worker(
        workspace, model_stub, codex_binary, "Create it [model-stub:stall]", timeout="6"
    )
    assert run.result["status"] == "failed"
    assert run.result["error"]["type"] == "stall", run.result["error"]
    assert run.seconds < 6  # the CLI's idle limit is a third of the worker's


def test_an_unreachable_model_is_unreachable(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    closed = Stub(
        url=f"http://127.0.0.1:{free_port()}", process=model_stub.process, log=model_stub.log
    )
    run = run_worker(workspace, closed, codex_binary, "Create it", timeout="30")
    assert run.code == 1
    assert run.result["error"]["type"] == "unreachable"
    assert run.seconds < 20


def test_secrets_through_stdin_into_files_reach_the_cli(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    """The container worker's contract (worker_secrets.py): only `<NAME>_FILE` in the
    environment, the values as JSON on stdin, written 0600 to those files."""
    values = {"OPENAI_API_KEY": STUB_KEY, "OPENAI_ORG_ID": ORG, "OPENAI_PROJECT": PROJECT}
    run = run_worker(
        workspace, model_stub, codex_binary, "Create the Fibonacci CLI.", stdin=json.dumps(values)
    )
    assert run.code == 0, run.stderr
    assert run.result["status"] == "success"
    assert run.result["logs"]["env"] == dict.fromkeys(SECRET_NAMES, "present")
    seen = model_stub.requests()[-1]["headers"]
    assert {"authorization", "openai-organization", "openai-project"} <= set(seen)
    stored = workspace.parent / "secrets" / "OPENAI_API_KEY"
    assert stored.read_text() == STUB_KEY
    assert stored.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("stdin", ["", "not json", json.dumps(["a list"])])
def test_promised_secrets_that_do_not_come_fail_the_job(
    workspace: Path, model_stub: Stub, codex_binary: Path, stdin: str
) -> None:
    run = run_worker(workspace, model_stub, codex_binary, "Create it", stdin=stdin)
    assert run.code == 1
    assert run.result["error"]["type"] == "secrets_unavailable"
    assert run.result["error"]["message"].startswith("the worker's secrets: ")


def test_the_cli_reaches_the_model_through_the_workers_proxy(
    workspace: Path, model_stub: Stub, codex_binary: Path
) -> None:
    """`openai` mode's only way out (compose.openai.yaml): the real CLI honours
    HTTP_PROXY/HTTPS_PROXY as the container worker sets them, and the proxy forwards to
    the model's host and nothing else."""
    host, port = model_stub.url.removeprefix("http://").split(":")
    proxy = model_proxy.ProxyServer(("127.0.0.1", 0), (host, int(port)))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        run = run_worker(
            workspace, model_stub, codex_binary, "Create the Fibonacci CLI.",
            extra_env={"HTTP_PROXY": address, "HTTPS_PROXY": address, "NO_PROXY": ""},
        )  # fmt: skip
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert run.code == 0, run.stderr
    assert run.result["status"] == "success"
    forwarded = [entry for entry in proxy.recent if entry["verdict"] == "forwarded"]
    assert forwarded, list(proxy.recent)
    assert {entry["destination"] for entry in forwarded} == {f"{host}:{port}"}

"""The live sandbox, probed while a real live harness session runs (real Docker, real
worker image, the bundled model stand-in): a worker reaches the model and nothing else,
the API needs the run's generated token, the host guard comes and goes with the run, the
keys sit only in the containers' configuration and leave with them, the stand-in is
healthy by its own check and stops on SIGTERM at once, and an orchestrator restarted
mid-job fails the job in the API and in result.json alike (the tests run inside the
session are in tests/docker/live_session.py)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_codex.review import cli as verify
from tests.conftest import REPO

HERE = Path(__file__).resolve().parent
HEALTH_MATRIX = """\
name: health
description: The live stack answers.
modes: [live]
cases:
  - name: health-says-live
    request: {path: /healthz}
    expect: {status: 200, json: {status: ok, mode: live}}
"""


def live_session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A live run (model stand-in) of the tests in live_session.py and a health case."""
    pytester.path.joinpath(".env.live").write_text(
        f"OPENAI_API_KEY=sk-canary-{secrets.token_hex(12)}\n"
    )
    matrices = pytester.mkdir("m")
    (matrices / "health.yaml").write_text(HEALTH_MATRIX)
    shutil.copy(HERE / "live_session.py", pytester.path / "test_live_session.py")
    return pytester.runpytest_subprocess(
        "--codex-mode=live",
        f"--codex-matrix={matrices}",
        "--codex-evidence-dir=evidence",
        "--codex-env-file=.env.live",
        "-v",
        "-p",
        "no:cacheprovider",
        *args,
        timeout=900,
    )


def test_probes_from_a_worker_during_a_live_run(
    pytester: pytest.Pytester, worker_image: str, orchestrator_image: str
) -> None:
    del worker_image, orchestrator_image  # built as the live stack builds them
    # The bundled files given explicitly, as a user gives their own: the rollback must
    # derive the mocked stack from them (compose.yaml alone).
    service = REPO / "service"
    result = live_session(
        pytester,
        f"--codex-compose-file={service / 'compose.yaml'}",
        f"--codex-compose-file={service / 'compose.live.yaml'}",
        f"--codex-compose-file={service / 'compose.hermetic.yaml'}",
        "m/health.yaml",
        "test_live_session.py",
    )
    output = result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, output
    assert outcomes.get("errors", 0) == 0, output
    result.stdout.fnmatch_lines(
        [
            "*test_a_worker_reaches_the_model_and_nothing_else PASSED*",
            "*test_the_api_needs_the_generated_token PASSED*",
            "*test_where_the_key_is_while_the_stack_runs PASSED*",
            "*test_the_model_stand_in_has_its_own_health_check PASSED*",
            "*test_a_restart_mid_job_fails_it_in_the_api_and_in_result_json PASSED*",
            "*test_the_model_stand_in_stops_on_sigterm_within_a_second PASSED*",
        ]
    )
    [bundle] = sorted((pytester.path / "evidence").glob("*/live"))
    guard = json.loads((bundle / "sandbox" / "host-guard.json").read_text())
    assert guard["active"] is True, guard  # CI runs the harness as root
    assert guard["rule"][0] == "INPUT"
    assert guard["rule"][-1] == "DROP"
    # The rule left with the stack.
    rules = subprocess.run(
        ["iptables", "-S", "INPUT"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert guard["rule"][guard["rule"].index("--comment") + 1] not in rules
    # The generated token is redacted like a key: it is nowhere in the bundle.
    assert verify.main(["verify", str(bundle), "--env-file", ".env.live"]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    rollback = manifest["rollback"]
    assert rollback["passed"] is True, rollback
    assert rollback["checks"]["docker_socket_mounts"] == []
    assert rollback["checks"]["openai_variables"] == []
    assert rollback["checks"]["workers_started"] == 0
    assert rollback["checks"]["workers_remaining"] == 0
    assert rollback["checks"]["live_workers"]["remaining"] == []
    assert rollback["checks"]["live_projects_readable"] == "1/1"  # the restarted job's
    # The containers' configurations that held the key are gone with the stack.
    root = subprocess.run(
        ["docker", "info", "--format", "{{.DockerRootDir}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    ids = (pytester.path / "container-ids.txt").read_text().split()
    assert len(ids) == 2
    for container in ids:
        assert not (Path(root) / "containers" / container).exists()
    token = (pytester.path / "generated-token.txt").read_bytes()
    assert len(token) >= 32
    for path in pytester.path.joinpath("evidence").rglob("*"):
        if path.is_file():
            assert token not in path.read_bytes(), f"the API token reached {path}"
    assert token not in (output + result.stderr.str()).encode()

"""Live mode end to end in real Docker: the orchestrator starts worker containers running
the real Codex CLI against the bundled model stand-in, with canary keys that must appear
nowhere; then the harness rolls back to mocked mode and proves it."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import urllib.parse

import pytest

from pytest_codex.review import cli as verify
from tests.conftest import REPO


def forms(value: str) -> list[bytes]:
    """The shapes a leaked value could take."""
    raw = value.encode()
    return [
        raw,
        urllib.parse.quote(value, safe="").encode(),
        json.dumps(value)[1:-1].encode(),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
    ]


def leftovers(role: str, project: str) -> list[str]:
    """The run's containers of one role that remain (its own labels: other runs and
    stacks may share the engine)."""
    run_label = f"io.pytest-codex.run={project}"
    compose_label = f"com.docker.compose.project={project}"
    done = subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label={run_label if role == 'worker' else compose_label}",
            "--filter",
            f"label=io.pytest-codex.role={role}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.split()


def test_live_run_with_rollback_and_no_canary_anywhere(pytester: pytest.Pytester) -> None:
    canaries = {
        "OPENAI_API_KEY": f"canary-key-{secrets.token_hex(12)}",
        "OPENAI_ORG_ID": f"canary-org-{secrets.token_hex(6)}",
        "OPENAI_PROJECT": f"canary-proj-{secrets.token_hex(6)}",
    }
    pytester.path.joinpath(".env.live").write_text(
        "".join(f"{name}={value}\n" for name, value in canaries.items())
    )
    pytester.path.joinpath(".gitignore").write_text(".env\n.env.live\n")
    subprocess.run(["git", "init", "-q", str(pytester.path)], check=True, timeout=30)
    # A mocked run first: the live summary compares its cases with it.
    mocked_run = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-matrix={REPO / 'matrices'}",
        "--codex-evidence-dir=evidence",
        "-p",
        "no:cacheprovider",
        timeout=600,
    )
    assert mocked_run.ret == 0, mocked_run.stdout.str()
    result = pytester.runpytest_subprocess(
        "--codex-mode=live",
        f"--codex-matrix={REPO / 'matrices'}",
        "--codex-evidence-dir=evidence",
        "--codex-env-file=.env.live",
        "-v",
        "-p",
        "no:cacheprovider",
        timeout=1500,
    )
    output = result.stdout.str() + result.stderr.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, output
    assert outcomes.get("errors", 0) == 0, output
    assert outcomes["passed"] >= 60
    result.stdout.fnmatch_lines(
        [
            "*live.yaml::worker-result PASSED*",
            "*live.yaml::model-401-result PASSED*",
            "*live.yaml::model-429-result PASSED*",
            "*live.yaml::model-500-result PASSED*",
            "*live.yaml::model-response-failed-result PASSED*",
            "*live.yaml::model-stall-result PASSED*",
            "*live.yaml::model-hangs-until-the-job-timeout PASSED*",
            "rollback to mocked: passed",
        ]
    )

    [live] = sorted((pytester.path / "evidence").glob("*/live"))
    mocked = live.parent / "mocked"  # the rollback's smoke cases
    for bundle in (live, mocked):
        assert verify.main(["verify", str(bundle), "--env-file", ".env.live"]) == 0
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["rollback"]["passed"] is True
    # The Codex CLI the workers ran, from their result.json (worker_version).
    assert manifest["versions"]["codex_cli"].startswith("codex-cli "), manifest["versions"]
    checks = manifest["rollback"]["checks"]
    assert checks["docker_socket_mounts"] == []
    assert checks["openai_variables"] == []
    assert checks["workers_started"] == 0
    assert checks["workers_remaining"] == 0  # none of the run, counted from its start
    assert checks["live_workers"]["remaining"] == []
    assert checks["live_workers"]["created_since_run_start"] >= 1
    readable, total = checks["live_projects_readable"].split("/")
    assert readable == total
    assert int(total) >= 3
    assert manifest["live"]["env"] == dict.fromkeys(canaries, "present")
    assert manifest["live"]["git_ignore"] == {".env": "ignored", ".env.live": "ignored"}
    compared = manifest["comparison_with_mocked"]
    assert compared["different"] == 0
    assert compared["same"] >= 55
    assert compared["live_only"] >= 9
    summary = (live / "SUMMARY.md").read_text()
    assert "## Comparison with mocked" in summary
    assert "| mocked.yaml | create-project | passed (200) | passed (200) | same |" in summary
    stub_log = [
        json.loads(line)
        for line in (live / "model-stub" / "requests.jsonl").read_text().splitlines()
    ]
    assert {"authorization", "openai-organization", "openai-project"} <= set(
        stub_log[0]["headers"]
    )
    assert {entry["scenario"] for entry in stub_log} >= {
        "create",
        "edit",
        "401",
        "429",
        "500",
        "failed",
        "stall",
        "hang",
    }
    assert json.loads((live / "sandbox" / "host-guard.json").read_text())["active"] is True
    events = list((live / "workers").glob("*/events.jsonl"))
    assert events, "no worker event stream in the bundle"
    assert any(b'"turn.completed"' in path.read_bytes() for path in events)

    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.name != ".env.live"]
    for value in canaries.values():
        for shape in forms(value):
            assert shape not in output.encode(), "a canary reached pytest's output"
            for path in written:
                assert shape not in path.read_bytes(), f"a canary reached {path}"

    project = manifest["target"]["project"]
    assert leftovers("worker", project) == []
    assert leftovers("orchestrator", project) == []
    assert leftovers("model-stub", project) == []


def test_worker_image_runs_as_a_sandboxed_user(worker_image: str) -> None:
    done = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", worker_image, "-u"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1000"
    version = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "codex", worker_image, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "0.163.0" in version.stdout, version.stdout + version.stderr

"""The plugin against the bundled stack in real Docker: the whole mocked matrix through
compose, and a start-up failure that reports the service's own log lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_codex.review import cli as verify
from tests.conftest import REPO

COMPOSE_FILE = REPO / "service" / "compose.yaml"


def test_mocked_matrices_through_compose(pytester: pytest.Pytester) -> None:
    started = int(time.time())
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-matrix={REPO / 'matrices'}",
        "--codex-evidence-dir=evidence",
        "-p",
        "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 55
    result.stdout.fnmatch_lines(["*codex evidence*", "timings: base_image *, stack_start *"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    assert verify.main(["verify", str(bundle)]) == 0
    log = (bundle / "logs" / "service.log").read_text()
    assert '"event": "request"' in log or '"event":"request"' in log
    listings = list((bundle / "workspaces").glob("*.json"))
    assert listings, "no workspace listing in the bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["versions"]["docker"] not in ("", "not used", "unavailable")
    assert set(manifest["timings_s"]) >= {"stack_start", "cases", "teardown"}
    assert manifest["totals"]["passed"] >= 280  # seed, traversal, corpus and load
    load = json.loads((bundle / "load" / "load.json").read_text())
    assert (load["create"]["errors"], load["read"]["errors"], load["incomplete"]) == (0, 0, 0)
    assert load["projects"] == 500
    # Mocked mode starts no worker container at all, and leaves no container behind
    # (this run's: other runs may share the engine).
    project = manifest["target"]["project"]
    events = subprocess.run(
        [
            "docker",
            "events",
            "--since",
            str(started),
            "--until",
            str(int(time.time()) + 1),
            "--filter",
            "type=container",
            "--filter",
            "label=io.pytest-codex.role=worker",
            "--filter",
            f"label=io.pytest-codex.run={project}",
            "--format",
            "{{.ID}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert events.stdout.strip() == ""
    leftover = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert leftover.stdout.strip() == ""


def test_startup_failure_shows_the_service_logs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        COMPOSE_FILE.read_text()
        .replace("USE_DUMMY_WORKER: ${USE_DUMMY_WORKER:-true}", "USE_DUMMY_WORKER: maybe")
        .replace("context: .", f"context: {REPO / 'service'}")
    )
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "one.yaml").write_text(
        "name: one\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-compose-file={broken}",
        "--codex-startup-timeout=15",
        "--codex-evidence-dir=evidence",
        "matrices",
    )
    assert result.ret == 1
    result.stdout.no_fnmatch_line("*ERROR at setup*")
    # The container exits at once: either no port is published or /healthz never answers;
    # either way the message carries the service's own last words, once.
    result.stdout.fnmatch_lines(
        [
            "SESSION STOPPED: codex stack: *",
            "*last service log lines:*",
            "*USE_DUMMY_WORKER*maybe*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_an_engine_that_does_not_answer_is_one_error_not_one_per_case(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.mkdir("matrices")
    cases = "".join(
        f"  - name: health-{n}\n    request: {{path: /healthz}}\n    expect: {{status: 200}}\n"
        for n in range(40)
    )
    pytester.path.joinpath("matrices", "many.yaml").write_text(f"name: many\ncases:\n{cases}")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked", "--codex-evidence-dir=evidence", "matrices"
    )
    assert result.ret == 1
    output = result.stdout.str()
    assert output.count("SESSION STOPPED") == 1
    result.stdout.no_fnmatch_line("*ERROR at setup*")
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.fnmatch_lines(["*no tests ran*"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["session"]["end"] == "stack_failure"
    assert manifest["session"]["selected"] == 40


def test_sigterm_tears_the_stack_down_and_closes_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "matrices").mkdir()
    case = (
        "  - name: create-{0}\n    request: {{method: POST, path: /api/v1/projects, "
        "json: {{instruction: x}}}}\n    expect: {{status: 200}}\n"
    )
    cases = "".join(case.format(n) for n in range(1500))
    (tmp_path / "matrices" / "many.yaml").write_text(f"name: many\ncases:\n{cases}")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--codex-mode=mocked",
            "--codex-evidence-dir=evidence",
            "-v",
            "-p",
            "no:cacheprovider",
            "matrices",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    passed = 0
    deadline = time.monotonic() + 300
    while passed < 20 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        passed += "PASSED" in line
    assert passed >= 20, "the run never got going"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == pytest.ExitCode.INTERRUPTED
    [bundle] = sorted((tmp_path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["session"]["end"] == "interrupted"
    assert manifest["session"]["reason"] == "SIGTERM"
    assert 20 <= manifest["session"]["run"] < 1500
    assert (bundle / "logs" / "service.log").is_file()
    project = manifest["target"]["project"]
    label = f"label=com.docker.compose.project={project}"
    for kind in ("ps -aq", "network ls -q", "volume ls -q"):
        left = subprocess.run(
            ["docker", *kind.split(), "--filter", label],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert left.stdout.strip() == "", f"docker {kind}: {left.stdout}"
    followers = subprocess.run(
        ["pgrep", "-f", f"-p {project} logs"], capture_output=True, text=True, check=False
    )
    assert followers.stdout.strip() == "", "a `compose logs -f` outlived the run"


def test_xdist_workers_share_one_compose_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--codex-mode=mocked",
            f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
            "--codex-evidence-dir=evidence",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    [bundle] = sorted((tmp_path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["session"]["workers"] == 2
    assert manifest["totals"]["failed"] == 0
    # One stack: its log holds one orchestrator's start-up, and it is gone afterwards.
    log = (bundle / "logs" / "service.log").read_text()
    assert log.count('"event": "started"') <= 1
    project = manifest["target"]["project"]
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert left.stdout.strip() == ""

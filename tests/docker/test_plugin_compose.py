"""The plugin against the bundled stack in real Docker: the whole mocked matrix through
compose, and a start-up failure that reports the service's own log lines."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from pytest_codex import verify
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
    # Mocked mode starts no worker container at all, and leaves no container behind.
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
            "--format",
            "{{.ID}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert events.stdout.strip() == ""
    project = manifest["target"]["project"]
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
    result.assert_outcomes(errors=1)
    # The container exits at once: either no port is published or /healthz never answers;
    # either way the message carries the service's own last words.
    result.stdout.fnmatch_lines(
        ["*codex stack: *last service log lines:*", "*USE_DUMMY_WORKER*maybe*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")

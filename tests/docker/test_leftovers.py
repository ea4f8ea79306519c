"""Leftovers of a killed run are found by their project name and removed at the next
start; a run whose process is alive is left alone."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from pytest_codex.target import leftovers
from tests.conftest import REPO


def docker(*argv: str) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def plant(project: str, image: str) -> None:
    label = f"{leftovers.COMPOSE_LABEL}={project}"
    docker("network", "create", "--label", label, f"{project}_default")
    docker("volume", "create", "--label", label, f"{project}_state")
    docker("run", "-d", "--label", label, "--network", f"{project}_default", image, "sleep", "300")
    # A worker the killed orchestrator had started, tied to the run by its label.
    docker(
        "run",
        "-d",
        "--label",
        f"{leftovers.RUN_LABEL}={project}",
        "--label",
        "io.pytest-codex.role=worker",
        image,
        "sleep",
        "300",
    )


def resources(project: str) -> list[str]:
    found = []
    for kind, label in (
        (["ps", "-aq"], leftovers.COMPOSE_LABEL),
        (["ps", "-aq"], leftovers.RUN_LABEL),
        (["network", "ls", "-q"], leftovers.COMPOSE_LABEL),
        (["volume", "ls", "-q"], leftovers.COMPOSE_LABEL),
    ):
        found += docker(*kind, "--filter", f"label={label}={project}").split()
    return found


def test_a_killed_runs_stack_is_removed_and_a_live_runs_is_kept(base_image: str) -> None:
    here = leftovers.host_tag()
    killed = f"pytest-codex-{here}-{dead_pid()}-{secrets.token_hex(3)}"
    running = f"pytest-codex-{here}-{os.getpid()}-{secrets.token_hex(3)}"
    # Another host's run (a container sharing the engine): its pid means nothing here.
    elsewhere = f"pytest-codex-{'0' * 6 if here != '0' * 6 else '1' * 6}-{dead_pid()}-abc123"
    for project in (killed, running, elsewhere):
        plant(project, base_image)
    try:
        assert len(resources(killed)) == 4
        removed = leftovers.clean()
        assert killed in removed
        assert running not in removed
        assert elsewhere not in removed
        assert resources(killed) == []
        assert len(resources(running)) == 4
        assert len(resources(elsewhere)) == 4
    finally:
        for project in (killed, running, elsewhere):
            leftovers.remove(project)
    assert resources(running) == []


def test_an_interrupted_run_tears_its_stack_down(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--codex-mode=mocked",
            "-p",
            "no:cacheprovider",
            f"--codex-matrix={REPO / 'matrices'}",
            f"--codex-evidence-dir={tmp_path / 'ev'}",
            f"--rootdir={tmp_path}",
            "-q",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    project = f"pytest-codex-{leftovers.host_tag()}-{run.pid}-"
    deadline = time.monotonic() + 300
    running = ""
    while not running and time.monotonic() < deadline and run.poll() is None:
        names = docker(
            "ps",
            "--filter",
            "label=io.pytest-codex.role=orchestrator",
            "--format",
            '{{.Label "com.docker.compose.project"}}',
        )
        running = next((n for n in names.split() if n.startswith(project)), "")
        time.sleep(0.2)
    assert running, "the run never started its stack"
    time.sleep(1.0)  # into the cases
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert b"KeyboardInterrupt" in output or b"Interrupted" in output, output[-2000:]
    assert resources(running) == []


HANG_MATRIX = """\
name: hang
description: One job whose model never answers (the worker runs until its limit).
modes: [live]
cases:
  - name: create-that-hangs
    request:
      method: POST
      path: /api/v1/projects
      json: {instruction: "Create the Fibonacci CLI. [model-stub:hang]"}
    expect: {status: 200}
"""


def test_sigterm_mid_job_removes_the_runs_workers_and_no_key_is_inspectable(
    tmp_path: Path, worker_image: str, orchestrator_image: str
) -> None:
    """A live run stopped by SIGTERM while a worker runs: the worker holds no key in its
    configuration while it runs, and it is gone with the stack (not left for a later
    run to sweep). Everything looked at is this run's (its labels), never engine-wide."""
    del worker_image, orchestrator_image  # built as the live stack builds them
    key = f"sk-canary-sigterm-{secrets.token_hex(8)}"
    (tmp_path / ".env.live").write_text(f"OPENAI_API_KEY={key}\n")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "hang.yaml").write_text(HANG_MATRIX)
    run = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "--codex-mode=live", "-p", "no:cacheprovider",
            f"--codex-matrix={tmp_path / 'm'}", f"--codex-evidence-dir={tmp_path / 'ev'}",
            "--codex-env-file=.env.live", f"--rootdir={tmp_path}", "-q",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    prefix = f"pytest-codex-{leftovers.host_tag()}-{run.pid}-"
    deadline = time.monotonic() + 600
    worker = ""
    while not worker and time.monotonic() < deadline and run.poll() is None:
        found = docker(
            "ps", "--filter", "label=io.pytest-codex.role=worker",
            "--format", '{{.ID}} {{.Label "io.pytest-codex.run"}}',
        )  # fmt: skip
        worker = next(
            (line for line in found.splitlines() if line.split()[-1].startswith(prefix)), ""
        )
        time.sleep(0.2)
    assert worker, "the run never started a worker"
    worker_id, project = worker.split()
    inspected = docker("inspect", worker_id)
    assert key not in inspected
    assert "OPENAI_API_KEY_FILE=/run/codex-secrets/OPENAI_API_KEY" in inspected
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=180)
    assert b"KeyboardInterrupt" in output or b"Interrupted" in output, output[-2000:]
    assert key.encode() not in output
    assert docker("ps", "-aq", "--filter", f"label={leftovers.RUN_LABEL}={project}") == ""
    assert resources(project) == []

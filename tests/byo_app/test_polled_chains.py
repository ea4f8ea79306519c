"""Selections of the byo matrix whose cases read what an asynchronous (polled) job
changed: `-k result-json-after-edit` and `-n 2` must run the poll case first, else the
read sees the workspace before the job ran (modified_files [] instead of [app.py]).
Each run is a separate `python -m pytest` against the FastAPI app as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.byo_app.server import BYO, byo_server

RUN_TIMEOUT_S = 300


def run_byo(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The byo matrix against a fresh app; returns the run and its bundle folder."""
    evidence = folder / "evidence"
    with byo_server(folder / "byo") as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-c",
                str(BYO / "pytest.ini"),
                "--codex-mode=mocked",
                f"--codex-base-url={server.url}",
                f"--codex-workspace-root={server.workspace_root}",
                f"--codex-evidence-dir={evidence}",
                f"--basetemp={folder / 'basetemp'}",
                "--noconftest",
                "-p",
                "no:cacheprovider",
                *args,
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    [bundle] = sorted(evidence.glob("*/mocked"))
    return done, bundle


def test_k_on_a_read_after_a_polled_job_runs_the_poll_first(tmp_path: Path) -> None:
    done, bundle = run_byo(tmp_path, "-k", "result-json-after-edit")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "1 passed" in done.stdout
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    roles = {case["name"]: case.get("role") for case in manifest["cases"]}
    assert roles["edit-job-completed"] == "prerequisite", roles
    assert roles["result-json-after-edit"] != "prerequisite"


@pytest.mark.parametrize("workers", ["2"])
def test_xdist_shares_run_the_poll_before_reads(tmp_path: Path, workers: str) -> None:
    done, _ = run_byo(tmp_path, "-n", workers, "-k", "after-edit")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "3 passed" in done.stdout

"""pytest-xdist: `-n N` runs every case against ONE target and writes ONE bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_codex import verify
from tests.conftest import REPO, Orchestrator


def test_two_workers_write_one_bundle(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-workspace-root={orchestrator.workspace_root}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        f"--codex-matrix={REPO / 'matrices' / 'traversal.yaml'}",
        "--codex-evidence-dir=evidence",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=60)
    result.stdout.fnmatch_lines(["pytest-codex mocked run: COMPLETED, * 0 failed, 0 error*"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/*"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    session = manifest["session"]
    assert session["workers"] == 2
    assert session["selected"] == session["run"] == 60
    selected = [case for case in manifest["cases"] if case["role"] == "selected"]
    assert len(selected) == 60
    assert len({(case["matrix"], case["name"]) for case in selected}) == 60
    # A worker that got a case whose values another worker saved ran their producer
    # itself, recorded as a prerequisite, never as a missing variable.
    assert all(case["outcome"] == "passed" for case in manifest["cases"])
    assert verify.main(["verify", str(bundle)]) == 0
    assert list((bundle / "workspaces").glob("*.json"))  # snapshots taken once, at the end


def test_a_run_without_workers_is_unchanged(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
        "-n",
        "0",
    )
    result.assert_outcomes(passed=17)
    [bundle] = sorted(Path(pytester.path / "evidence").glob("*/*"))
    assert json.loads((bundle / "manifest.json").read_text())["session"]["workers"] == 1

"""pytest-xdist: `-n N` runs every case against ONE target and writes ONE bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_codex.review import cli as verify
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
    result.stdout.fnmatch_lines(["pytest-codex mocked run: PASSED, * 0 failed, 0 error*"])
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


def test_a_secret_in_the_bundle_fails_an_xdist_run_too(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    # A token shape the pattern scan knows, sent by the matrix itself: the orchestrator
    # echoes it back, so the bundle holds it and the final scan must fail the run.
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "leak.yaml").write_text(
        "name: leak\ncases:\n"
        "  - name: create\n"
        "    request: {method: POST, path: /api/v1/projects,"
        " json: {instruction: ghp_abcdefghijklmnopqrstuvwxyz0123456789}}\n"
        "    expect: {status: 200}\n"
        "  - name: health\n    request: {path: /healthz}\n    expect: {status: 200}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        "--codex-evidence-dir=evidence",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        "matrices",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "secret" in (result.stdout.str() + result.stderr.str()).lower()


def test_a_worker_with_only_skipped_cases_still_reports_them(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "a.yaml").write_text(
        "name: a\ncases:\n  - name: skipped-one\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n"
    )
    pytester.path.joinpath("matrices", "b.yaml").write_text(
        "name: b\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n"
    )
    pytester.makeconftest(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        if item.name == 'skipped-one':\n"
        "            item.add_marker(pytest.mark.skip(reason='not here'))\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        "--codex-evidence-dir=evidence",
        "-n",
        "2",
        "--dist",
        "loadfile",
        "-p",
        "no:cacheprovider",
        "matrices",
    )
    result.assert_outcomes(passed=1, skipped=1)
    [bundle] = sorted((pytester.path / "evidence").glob("*/*"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    outcomes = sorted((case["name"], case["outcome"]) for case in manifest["cases"])
    assert outcomes == [("health", "passed"), ("skipped-one", "skipped")]
    assert manifest["totals"]["skipped"] == 1

"""Selections and early stops, as every surface states them: a run verify would refuse is
never shown as PASSED (terminal, SUMMARY.md, index.html, `summary --markdown`, JUnit),
node ids and -x are partial runs, --lf/--ff/--sw record counts that add up."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.review import cli as verify
from tests.conftest import REPO, Orchestrator

CONSOLE = Path(sys.executable).parent / "codex-evidence"
FIVE = "".join(
    f"  - name: case-{index}\n    request: {{path: /healthz}}\n"
    f"    expect: {{status: {418 if index == 2 else 200}}}\n"
    for index in range(1, 6)
)


def bundle_of(evidence: Path) -> Path:
    [bundle] = sorted(evidence.glob("*/mocked"))
    return bundle


def manifest(bundle: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return loaded


def verify_output(
    capsys: pytest.CaptureFixture[str], bundle: Path, *flags: str
) -> tuple[int, str]:
    capsys.readouterr()
    code = verify.main(["verify", str(bundle), *flags])
    return code, capsys.readouterr().out


def codex_evidence(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point, as a user runs it."""
    return subprocess.run(
        [str(CONSOLE), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_keyword_selection_is_partial_on_every_surface(
    pytester: pytest.Pytester, orchestrator: Orchestrator, capsys: pytest.CaptureFixture[str]
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
        "--junitxml=junit.xml",
        "-k",
        "get-edit-job",
    )
    result.assert_outcomes(passed=1)
    bundle = bundle_of(pytester.path / "evidence")
    code, output = verify_output(capsys, bundle)
    assert code == 1
    assert "verdict: deselection: 1 of 17 selected by -k 'get-edit-job'" in output
    headline = "PARTIAL, 3 passed, 0 failed, 0 error, 0 skipped (1 run of 1 selected"
    result.stdout.fnmatch_lines([f"pytest-codex mocked run: {headline}*"])
    summary = (bundle / "SUMMARY.md").read_text().splitlines()[0]
    assert summary.startswith(f"# pytest-codex mocked run: {headline}")
    page = (bundle / "index.html").read_text()
    assert 'class="verdict other"' in page
    assert f'<div class="big">{headline}' in page
    assert "verify refuses this run" in page
    assert page.count('class="badge prerequisite"') == 2  # create-project, edit-job
    markdown = codex_evidence("summary", "--markdown", str(bundle))
    assert markdown.returncode == 0, markdown.stderr
    assert f"run: {headline}" in markdown.stdout
    assert "PASSED" not in markdown.stdout
    plain = codex_evidence("summary", str(bundle))
    assert plain.stdout.startswith(headline)
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert str(properties["codex_verdict"]).startswith(f"pytest-codex mocked run: {headline}")


def test_a_node_id_selection_is_partial(
    pytester: pytest.Pytester, orchestrator: Orchestrator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.mkdir("matrices")
    (pytester.path / "matrices" / "mocked.yaml").write_bytes(
        (REPO / "matrices" / "mocked.yaml").read_bytes()
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        "--codex-matrix=matrices",
        "--codex-evidence-dir=evidence",
        "matrices/mocked.yaml::healthz",
    )
    result.assert_outcomes(passed=1)
    bundle = bundle_of(pytester.path / "evidence")
    assert manifest(bundle)["session"]["selection"]["node_ids"] == [
        "matrices/mocked.yaml::healthz"
    ]
    source = (pytester.path / "matrices" / "mocked.yaml").read_bytes()
    assert manifest(bundle)["matrices"] == {
        "matrices/mocked.yaml": {"sha256": hashlib.sha256(source).hexdigest(), "cases": 17}
    }
    code, output = verify_output(capsys, bundle)
    assert code == 1
    assert "node ids selected the cases: matrices/mocked.yaml::healthz" in output
    assert (bundle / "SUMMARY.md").read_text().startswith("# pytest-codex mocked run: PARTIAL")
    assert verify_output(capsys, bundle, "--allow-partial")[0] == 0


def run_five(pytester: pytest.Pytester, url: str, *flags: str) -> Path:
    """The five-case matrix (case-2 fails); the bundle of the run."""
    evidence = pytester.path / "evidence"
    before = set(evidence.glob("*/mocked")) if evidence.is_dir() else set()
    pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={url}",
        "--codex-matrix=matrices/five.yaml",  # the file itself: --lf deselects in it
        "--codex-evidence-dir=evidence",
        *flags,
    )
    [bundle] = sorted(set(evidence.glob("*/mocked")) - before)
    return bundle


def test_x_stops_early_and_says_so(
    pytester: pytest.Pytester, orchestrator: Orchestrator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.mkdir("matrices")
    (pytester.path / "matrices" / "five.yaml").write_text(f"name: five\ncases:\n{FIVE}")
    bundle = run_five(
        pytester, orchestrator.url, "-x", "-p", "no:cacheprovider", "--junitxml=junit.xml"
    )
    session = manifest(bundle)["session"]
    assert session["end"] == "stopped_early"
    assert (session["run"], session["selected"]) == (2, 5)
    first = (bundle / "SUMMARY.md").read_text().splitlines()[0]
    assert "COMPLETED" not in first
    assert first.startswith("# pytest-codex mocked run: STOPPED EARLY (stopping after 1 fail")
    # JUnit's verdict is the same line, although pytest ends session fixtures after -x
    # only in its own sessionfinish.
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    verdicts = [p.get("value") for p in suite.iter("property") if p.get("name") == "codex_verdict"]
    assert verdicts == [first.removeprefix("# ")], verdicts
    code, output = verify_output(capsys, bundle, "--allow-failures")
    assert code == 1
    assert "verdict: stopped early (stopping after 1 failures (-x/--maxfail)) after 2 of 5" in (
        output
    )
    assert verify_output(capsys, bundle, "--allow-failures", "--allow-partial")[0] == 0


def test_lf_ff_and_sw_record_counts_that_add_up(
    pytester: pytest.Pytester, orchestrator: Orchestrator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.mkdir("matrices")
    (pytester.path / "matrices" / "five.yaml").write_text(f"name: five\ncases:\n{FIVE}")
    accept = ("--allow-failures", "--allow-partial")
    first = run_five(pytester, orchestrator.url)
    assert verify_output(capsys, first, "--allow-failures")[0] == 0

    last_failed = run_five(pytester, orchestrator.url, "--lf")
    session = manifest(last_failed)["session"]
    assert (session["selected"], session["deselected"], session["collected"]) == (1, 4, 5)
    assert session["selection"]["last_failed"] is True
    code, output = verify_output(capsys, last_failed, *accept)
    assert code == 0, output  # no "do not make the N collected" integrity error
    code, output = verify_output(capsys, last_failed, "--allow-failures")
    assert "--lf ran only the cases that failed last time" in output

    failed_first = run_five(pytester, orchestrator.url, "--ff")
    session = manifest(failed_first)["session"]
    assert (session["selected"], session["deselected"], session["run"]) == (5, 0, 5)
    assert verify_output(capsys, failed_first, "--allow-failures")[0] == 0  # a full run

    stepwise = run_five(pytester, orchestrator.url, "--sw")
    session = manifest(stepwise)["session"]
    assert session["end"] == "stopped_early"
    assert session["selected"] + session["deselected"] == session["collected"]
    assert verify_output(capsys, stepwise, *accept)[0] == 0
    assert verify_output(capsys, stepwise, "--allow-failures")[0] == 1

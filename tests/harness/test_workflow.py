"""The example GitHub Actions workflow: actionlint finds nothing in it (and does find a
planted mistake), and it does what docs/evidence.md says it does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "pytest-codex.yml"
ACTIONLINT_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def actionlint() -> str:
    """The actionlint binary of the dev extra (next to this Python), else on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    assert found, "actionlint: not installed; pip install -e '.[dev]' brings it"
    return found


def lint(actionlint: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint, "-no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=ACTIONLINT_TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


def test_actionlint_finds_nothing(actionlint: str) -> None:
    result = lint(actionlint, WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_find_a_planted_mistake(actionlint: str, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        WORKFLOW.read_text().replace(
            "steps.bundle.outputs.path != ''", "steps.bundel.outputs.path != ''", 1
        )
    )
    result = lint(actionlint, broken)
    assert result.returncode == 1
    assert "bundel" in result.stdout


def steps_of(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def test_mocked_on_pull_requests_live_on_a_schedule(workflow: dict[Any, Any]) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"pull_request", "schedule"} <= set(triggers)
    assert "pull_request" in workflow["jobs"]["mocked"]["if"]
    assert "schedule" in workflow["jobs"]["live"]["if"]
    mocked = " ".join(str(step.get("run", "")) for step in steps_of(workflow, "mocked"))
    live = " ".join(str(step.get("run", "")) for step in steps_of(workflow, "live"))
    assert "--codex-mode=mocked" in mocked
    assert "--codex-mode=live" not in mocked
    assert "--codex-mode=live --codex-live-model=openai" in live


def test_keys_come_from_secrets_in_the_live_job_only(workflow: dict[Any, Any]) -> None:
    assert "secrets." not in str(workflow["jobs"]["mocked"])
    [writer] = [s for s in steps_of(workflow, "live") if "secrets." in str(s)]
    assert writer["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}"
    assert "> .env.live" in writer["run"]
    [remove] = [s for s in steps_of(workflow, "live") if "rm -f .env.live" in str(s)]
    assert remove["if"] == "always()"


@pytest.mark.parametrize("job", ["mocked", "live"])
def test_bundle_uploaded_and_summary_appended_whatever_the_outcome(
    workflow: dict[Any, Any], job: str
) -> None:
    steps = steps_of(workflow, job)
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "always()"
    assert "docs/evidence/" in upload["with"]["path"]
    [summary] = [s for s in steps if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    assert summary["if"].startswith("always()")
    assert (
        summary["run"] == 'codex-evidence summary "$BUNDLE" --markdown >> "$GITHUB_STEP_SUMMARY"'
    )

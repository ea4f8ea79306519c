"""Mocked against live, deeper: cases that go through a worker are matched on what the
worker did (file lists, result.json fields), the others counted apart; on a real run's
bundle and a copy of it with the worker's results changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.review.compare import NO_WORKER, compare_worker, comparison, worker_facts
from tests.conftest import REPO
from tests.harness.bundle_samples import run_bundle


def edit_body(bundle: Path, case: str, change: Any) -> None:
    path = bundle / "cases" / "mocked" / f"{case}.case.json"
    document = json.loads(path.read_text())
    change(document["response"]["body"])
    path.write_text(json.dumps(document))


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_bundle(
        tmp_path_factory.mktemp("compare"),
        REPO / "matrices" / "mocked.yaml",
        REPO / "matrices" / "traversal.yaml",
    )


def live_copy(mocked: Path, name: str) -> Path:
    live = mocked.parent.parent / name / "live"
    shutil.copytree(mocked, live)
    return live


def manifest_cases(bundle: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((bundle / "manifest.json").read_text())["cases"]
    return cases


def test_the_same_worker_results_are_same_and_traversal_needs_no_worker(
    real_run: Path,
) -> None:
    live = live_copy(real_run, "99990101T000000Z")
    result = comparison(real_run.parent.parent, manifest_cases(live), live_bundle=live)
    assert result["different"] == 0
    assert result["worker_different"] == 0
    assert result["worker_cases"] >= 6  # create, get, list, result.json, edit, ...
    assert result["no_worker"] >= 40  # the traversal payloads and the failing healthz
    rows = {row["case"]: row for row in result["rows"]}
    assert rows["list-files"]["worker"] == "same: files"
    assert rows["result-json"]["worker"] == "same: result"
    assert rows["create-project"]["worker"] == "same: job"
    assert rows["dot-dot-1"]["worker"] == NO_WORKER
    assert "Cases that go through a worker" in result["table"]


def test_a_different_file_list_or_result_is_a_difference(real_run: Path) -> None:
    live = live_copy(real_run, "99990102T000000Z")

    def drop_app_py(body: dict[str, Any]) -> None:
        body["files"] = [f for f in body["files"] if f["path"] != "app.py"]

    def failed_result(body: dict[str, Any]) -> None:
        result = json.loads(body["content"])
        result |= {
            "status": "failed",
            "summary": "",
            "error": {"type": "model_error", "message": "x"},
        }
        body["content"] = json.dumps(result)

    edit_body(live, "list-files", drop_app_py)
    edit_body(live, "result-json", failed_result)
    result = comparison(real_run.parent.parent, manifest_cases(live), live_bundle=live)
    assert result["worker_different"] == 2
    assert result["different"] == 2
    rows = {row["case"]: row for row in result["rows"]}
    assert rows["list-files"]["worker"] == "DIFFERENT: files"
    assert '"app.py"' in rows["list-files"]["detail"]
    assert rows["result-json"]["note"].startswith("DIFFERENT worker result: result: mocked {")
    assert '"error_type": "model_error"' in rows["result-json"]["detail"]
    assert '"summary_present": false' in rows["result-json"]["detail"]


def test_worker_facts_of_each_response_shape() -> None:
    def evidence(body: object, family: str | None = None) -> dict[str, Any]:
        return {"family": family, "response": {"body": body}}

    job = {"id": "x", "job_type": "edit", "status": "completed", "error": None}
    assert worker_facts(evidence(job)) == {
        "job": {"status": "completed", "job_type": "edit", "error_type": None}
    }
    project = {"id": "p", "status": "completed", "job": job}
    assert worker_facts(evidence(project)) == worker_facts(evidence(job))
    listing = {"files": [{"path": "b"}, {"path": "a"}]}
    assert worker_facts(evidence(listing)) == {"files": ["a", "b"]}
    assert worker_facts(evidence({"detail": "bad path"}, family="dot-dot")) is None
    assert worker_facts(evidence("plain text")) is None
    assert worker_facts(None) is None
    assert compare_worker(None, evidence({"status": "ok"})) == (NO_WORKER, "")

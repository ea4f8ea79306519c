"""Mocked against live, side by side, from real bundles."""

from __future__ import annotations

from pathlib import Path

from pytest_codex.adapter.harness import model_stub_requests
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.review.compare import LIVE_ONLY, MOCKED_ONLY, comparison, side_by_side
from pytest_codex.secrets.redact import Redactor
from tests.harness.bundle_samples import record_case


def case(name: str, outcome: str = "passed", status: int = 200) -> dict[str, object]:
    return {"file": "mocked.yaml", "name": name, "outcome": outcome, "status": status}


def test_rows_name_same_different_and_one_sided_cases() -> None:
    mocked = [case("create"), case("read"), case("only-mocked")]
    live = [case("create"), case("read", "failed", 500), case("only-live")]
    rows = side_by_side(mocked, live)
    assert [(r["case"], r["note"]) for r in rows] == [
        ("create", "same"),
        ("read", "DIFFERENT: mocked passed (200), live failed (500)"),
        ("only-live", LIVE_ONLY),
        ("only-mocked", MOCKED_ONLY),
    ]
    assert rows[1]["live"] == "failed (500)"


def test_the_newest_full_mocked_run_is_the_baseline(tmp_path: Path) -> None:
    full = EvidenceBundle(tmp_path, "mocked", Redactor({}), timestamp="20261125T010000Z")
    record_case(full, "create", "mocked.yaml", "passed", 200, 1.0, None, None)
    full.finalize({})
    rollback = EvidenceBundle(tmp_path, "mocked", Redactor({}), timestamp="20261125T020000Z")
    record_case(rollback, "smoke", "rollback.yaml", "passed", 200, 1.0, None, None)
    rollback.finalize({"rollback_of": "live"})
    result = comparison(tmp_path, [case("create"), case("worker-result")])
    assert result["against"] == "20261125T010000Z/mocked"
    assert (result["same"], result["different"], result["live_only"]) == (1, 0, 1)
    assert "| mocked.yaml | create | passed (200) | passed (200) | same |" in result["table"]


def test_without_a_mocked_run_the_summary_says_how_to_get_one(tmp_path: Path) -> None:
    result = comparison(tmp_path, [case("create")])
    assert result["against"] is None
    assert "run `pytest --codex-mode=mocked` first" in result["table"]


def test_the_model_stub_request_log_is_taken_from_the_compose_logs() -> None:
    logs = (
        'model-stub_1    | 2026-11-25T04:07:16.3Z {"event": "start", "port": 8080}\n'
        'model-stub_1    | 2026-11-25T04:07:16.4Z {"event": "request", "headers": ["a"]}\n'
        'orchestrator_1  | 2026-11-25T04:07:16.5Z {"event": "request", "path": "/healthz"}\n'
    )
    assert model_stub_requests(logs) == '{"event": "request", "headers": ["a"]}\n'

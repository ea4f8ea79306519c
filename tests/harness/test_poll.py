"""`poll:` against a real server whose job completes later (202 + polling)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.cases import poll as polling
from pytest_codex.cases.runner import CaseFailedError, RunContext, run_case
from pytest_codex.matrix.files import Case, load_matrix
from tests.harness.shaped_api import ShapedApi, serve
from tests.harness.test_runner import bundle, context

JOB = """\
name: jobs
cases:
  - name: create
    request: {method: POST, path: /api/v1/projects, json: {instruction: x}}
    expect: {status: 200}
    save: {pid: project_id}
  - name: edit
    request: {method: POST, path: "/api/v1/{pid}/jobs", json: {job_type: edit}}
    expect: {status: 202, json: {status: queued}}
    save: {job_id: job_id}
  - name: done
    request: {path: "/api/v1/{pid}/jobs/{job_id}"}
    poll: POLL
    expect: {status: 200, json: {status: completed}}
"""


def cases(tmp_path: Path, poll: str) -> list[Case]:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOB.replace("POLL", poll))
    return list(load_matrix(path).cases)


@pytest.fixture
def slow_api(tmp_path: Path) -> Iterator[tuple[str, ShapedApi]]:
    root = tmp_path / "workspaces"
    root.mkdir()
    shaped = ShapedApi(root, job_delay=3600)  # never completes within a test
    with serve(shaped) as url:
        yield url, shaped


def run_until_poll(tmp_path: Path, url: str, poll: str) -> tuple[RunContext, Case]:
    create, edit, done = cases(tmp_path, poll)
    run = context(url, bundle(tmp_path), None)
    run_case(create, run)
    run_case(edit, run)
    return run, done


def test_a_poll_that_never_holds_fails_with_the_attempts_and_the_last_answer(
    tmp_path: Path, slow_api: tuple[str, ShapedApi]
) -> None:
    url, shaped = slow_api
    run, done = run_until_poll(
        tmp_path, url, "{interval: 0.1, timeout: 0.5, until: {json: {status: completed}}}"
    )
    started = time.monotonic()
    with pytest.raises(CaseFailedError) as failed:
        run_case(done, run)
    assert time.monotonic() - started < 5
    message = str(failed.value)
    assert "poll:\n      expected `until` to hold within 0.5 s" in message
    assert f"it did not after {shaped.job_polls} attempts" in message
    assert '"status": "running"' in message  # the last answer
    record = json.loads((run.evidence.path / done.evidence_file).read_text())
    assert record["outcome"] == "failed"
    assert len(record["attempts"]) == shaped.job_polls >= 3
    assert all(a["status"] == 200 and '"running"' in a["body"] for a in record["attempts"])


def test_max_poll_attempts_bounds_a_poll_whatever_its_timeout(
    tmp_path: Path, slow_api: tuple[str, ShapedApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, shaped = slow_api
    monkeypatch.setattr(polling, "MAX_POLL_ATTEMPTS", 4)
    run, done = run_until_poll(
        tmp_path, url, "{interval: 0.01, timeout: 3600, until: {json: {status: completed}}}"
    )
    with pytest.raises(CaseFailedError) as failed:
        run_case(done, run)
    assert shaped.job_polls == 4
    assert "stopped by MAX_POLL_ATTEMPTS (4)" in str(failed.value)


def test_until_may_hold_on_a_status_and_save_uses_the_last_answer(
    tmp_path: Path, slow_api: tuple[str, ShapedApi]
) -> None:
    url, shaped = slow_api
    run, done = run_until_poll(tmp_path, url, "{interval: 0.1, until: {status: 200}}")
    with pytest.raises(CaseFailedError) as failed:  # until held, expect did not
        run_case(done, run)
    assert shaped.job_polls == 1
    assert "json $.status" in str(failed.value)
    assert "poll:" not in str(failed.value)


def test_a_target_that_stops_answering_is_an_error_with_every_attempt_kept(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    path = tmp_path / "gone.yaml"
    path.write_text(
        "name: gone\ncases:\n  - name: wait\n    request: {path: /jobs/1}\n"
        "    poll: {interval: 0.05, timeout: 0.3, until: {status: 200}}\n"
        "    expect: {status: 200}\n"
    )
    [case] = load_matrix(path).cases
    run = context(f"http://127.0.0.1:{port}", bundle(tmp_path), None)
    with pytest.raises(CaseFailedError) as failed:
        run_case(case, run)
    assert "poll attempts" in str(failed.value)
    record = json.loads((run.evidence.path / case.evidence_file).read_text())
    assert len(record["attempts"]) >= 2
    assert all("error" in attempt for attempt in record["attempts"])


@pytest.mark.parametrize(
    ("poll", "expected"),
    [
        ("{timeout: 3601, until: {status: 200}}", "3601 is greater than the maximum of 3600"),
        ("{interval: 0, until: {status: 200}}", "0 is less than the minimum of 0.01"),
        ("{interval: 1}", "'until' is a required property"),
        ("{until: {}}", "should be non-empty"),
        ("{until: {stauts: 200}}", "'stauts' was unexpected"),
    ],
)
def test_bad_polls_are_refused_at_collection(tmp_path: Path, poll: str, expected: str) -> None:
    with pytest.raises(Exception, match="poll") as refused:
        cases(tmp_path, poll)
    assert expected in str(refused.value)


def test_outside_content_in_any_attempt_fails_the_case(tmp_path: Path) -> None:
    root = tmp_path / "workspaces"
    root.mkdir()
    with serve(ShapedApi(root, job_delay=0.3, running_note="root:x:0:0:root")) as url:
        run, done = run_until_poll(
            tmp_path, url, "{interval: 0.1, timeout: 10, until: {json: {status: completed}}}"
        )
        with pytest.raises(CaseFailedError) as failed:
            run_case(done, run)
    message = str(failed.value)
    assert "outside content" in message
    assert "poll:" not in message  # until held; the leak was in an earlier attempt

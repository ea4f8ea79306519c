"""Expectations against responses built as they come off the wire (no server needed)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.expectations import check, leaks, subset_differences
from pytest_codex.rawhttp import Exchange

RESULT = {
    "status": "success",
    "summary": "done",
    "job_type": "create",
    "worker": "dummy",
    "created_files": ["app.py"],
    "modified_files": [],
    "logs": {
        "env": {"OPENAI_API_KEY": "absent", "OPENAI_ORG_ID": "absent", "OPENAI_PROJECT": "absent"}
    },
    "usage": None,
    "timing": {
        "started_at": "2026-11-25T00:00:00Z",
        "finished_at": "2026-11-25T00:00:01Z",
        "duration_ms": 1000,
    },
    "error": None,
}


def exchange(body: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Exchange(
        "GET",
        b"GET / HTTP/1.1",
        (),
        b"",
        status,
        "OK",
        headers or (("Content-Type", "application/json"),),
        raw,
        1.0,
    )


def file_response(content: bytes, project_id: str = "a" * 32, binary: bool = False) -> Exchange:
    text = base64.b64encode(content).decode() if binary else content.decode()
    return exchange(
        {
            "project_id": project_id,
            "path": ".codex/result.json",
            "size": len(content),
            "encoding": "base64" if binary else "utf-8",
            "content": text,
        }
    )


def problems(expect: dict[str, Any], response: Exchange, root: Path | None = None) -> list[str]:
    return [str(m) for m in check(expect, response, workspace_root=root).mismatches]


def test_status_may_be_one_of_a_list() -> None:
    assert problems({"status": [400, 404]}, exchange({}, 404)) == []
    assert problems({"status": [400, 404]}, exchange({}, 500)) == [
        "status: expected 400 or 404, got 500"
    ]


def test_json_is_a_subset_match_with_types() -> None:
    body = {"id": "x", "status": "completed", "job": {"status": "completed", "n": 1}}
    assert (
        problems({"status": 200, "json": {"job": {"status": "completed"}}}, exchange(body)) == []
    )
    assert problems({"status": 200, "json": {"job": {"n": True}}}, exchange(body)) == [
        "json $.job.n: expected true, got 1"
    ]
    assert problems({"status": 200, "json": {"missing": None}}, exchange(body)) == [
        "json $.missing: expected null, got no such key"
    ]


def test_lists_match_item_by_item_and_length() -> None:
    assert subset_differences(["a"], ["a", "b"]) == [("$", '["a"]', '["a", "b"]')]
    assert subset_differences([{"k": 1}], [{"k": 1, "other": 2}]) == []
    assert subset_differences(1, 1.0) == []


def test_schema_by_name() -> None:
    assert problems({"status": 200, "schema": "error"}, exchange({"detail": "no"})) == []
    assert problems({"status": 200, "schema": "error"}, exchange({"message": "no"})) == [
        "schema error: expected valid, got $: 'detail' is a required property"
    ]


def test_a_body_that_is_not_json_fails_json_expectations() -> None:
    assert problems({"status": 200, "json": {}}, exchange(b"<html>")) == [
        "body: expected JSON, got <html>"
    ]


def test_file_listing_exact_and_contains() -> None:
    listing = exchange({"files": [{"path": "b", "size": 1}, {"path": "a", "size": 2}]})
    assert problems({"status": 200, "files": {"exact": ["a", "b"]}}, listing) == []
    assert problems({"status": 200, "files": {"contains": ["a"]}}, listing) == []
    assert problems({"status": 200, "files": {"exact": ["a"]}}, listing) == [
        "files (exact): expected [\"a\"], got ['a', 'b'] (missing [], extra ['b'])"
    ]
    assert problems({"status": 200, "files": {"contains": ["c"]}}, listing) == [
        "files (contains): expected [\"c\"], got ['a', 'b'] (missing ['c'])"
    ]


def test_non_empty_looks_at_a_file_response_content() -> None:
    assert problems({"status": 200, "non_empty": True}, file_response(b"x")) == []
    assert problems({"status": 200, "non_empty": True}, file_response(b"")) == [
        "body: expected non-empty content, got empty"
    ]
    assert problems({"status": 200, "non_empty": True}, exchange(b"  ")) == [
        "body: expected non-empty content, got empty"
    ]


def test_headers_match_by_prefix_in_any_case() -> None:
    response = exchange({}, headers=(("content-type", "application/json; charset=utf-8"),))
    assert (
        problems({"status": 200, "headers": {"Content-Type": "application/json"}}, response) == []
    )
    assert problems({"status": 200, "headers": {"Content-Type": "text/html"}}, response) == [
        "header Content-Type: expected 'text/html'..., got 'application/json; charset=utf-8'"
    ]


def test_result_is_validated_and_compared_with_the_disk(tmp_path: Path) -> None:
    project = tmp_path / ("a" * 32) / ".codex"
    project.mkdir(parents=True)
    (project / "result.json").write_text(json.dumps(RESULT))
    response = file_response(json.dumps(RESULT).encode())
    want = {"status": 200, "result": {"json": {"status": "success"}, "on_disk": True}}
    assert problems(want, response, tmp_path) == []
    (project / "result.json").write_text(json.dumps({**RESULT, "summary": "other"}))
    assert problems(want, response, tmp_path)[0].startswith(
        "result.json on disk: expected the same document as the API's, got"
    )


def test_result_schema_violations_are_named() -> None:
    broken = {**RESULT, "status": "success", "error": {"type": "x", "message": "y"}}
    found = problems({"status": 200, "result": {}}, file_response(json.dumps(broken).encode()))
    assert found
    assert all(line.startswith("result.json schema:") for line in found)
    missing = {k: v for k, v in RESULT.items() if k != "logs"}
    assert problems(
        {"status": 200, "result": {}}, file_response(json.dumps(missing).encode())
    ) == ["result.json schema: expected valid, got $: 'logs' is a required property"]


def test_on_disk_without_a_visible_workspace_is_a_note_not_a_pass(tmp_path: Path) -> None:
    checked = check(
        {"status": 200, "result": {"on_disk": True}},
        file_response(json.dumps(RESULT).encode()),
        workspace_root=None,
    )
    assert checked.mismatches == []
    assert checked.notes
    assert "not compared" in checked.notes[0]


@pytest.mark.parametrize("binary", [False, True])
def test_outside_content_is_found_in_plain_and_base64_bodies(binary: bool) -> None:
    response = file_response(b"prefix canary-1234567890 suffix", binary=binary)
    assert leaks(response, ["canary-1234567890", "root:x:0:0:"]) == ["canary-1234567890"]
    assert leaks(exchange({"detail": "not found"}, 404), ["canary-1234567890"]) == []

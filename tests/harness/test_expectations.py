"""Expectations against responses built as they come off the wire (no server needed)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from pytest_codex.cases.expectations import check, leaks, subset_differences
from pytest_codex.cases.rawhttp import Exchange
from pytest_codex.matrix.files import load_matrix
from tests.conftest import REPO

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


def text_response(text: str) -> Exchange:
    return exchange(text.encode(), headers=(("Content-Type", "text/plain; charset=utf-8"),))


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ([{"path": "b", "size": 1}, {"path": "a", "size": 2}], {}),  # a bare list of objects
        (["b", "a"], {}),  # a bare list of strings
        ({"files": ["a", "b"]}, {}),  # wrapped strings
        ({"data": {"items": [{"name": "a"}, {"name": "b"}]}}, {"at": "data.items", "key": "name"}),
        ([{"name": "a"}, {"name": "b"}], {"key": "name", "at": None}),
    ],
)
def test_file_listings_are_read_bare_or_wrapped_in_any_order(
    body: object, want: dict[str, Any]
) -> None:
    response = exchange(body)
    assert problems({"status": 200, "files": {"exact": ["a", "b"], **want}}, response) == []
    assert problems({"status": 200, "files": {"contains": ["b"], **want}}, response) == []
    assert problems({"status": 200, "files": {"contains": ["c"], **want}}, response) == [
        "files (contains): expected [\"c\"], got ['a', 'b'] (missing ['c'])"
    ]


def test_a_listing_that_is_not_there_or_has_items_without_paths_fails() -> None:
    assert problems({"files": {"exact": ["a"], "at": "items"}}, exchange({"files": ["a"]})) == [
        'files: expected a list at `items`, got {"files": ["a"]}'
    ]
    found = problems({"files": {"exact": ["a"]}}, exchange([{"path": "a"}, {"name": "b"}]))
    assert found == [
        "files (exact): expected [\"a\"], got ['a'] (missing [], extra [], 1 items without `path`)"
    ]


def test_text_looks_at_a_raw_body_or_a_file_responses_content() -> None:
    readme = "# Fibonacci\n\nPrints numbers.\n"
    want = {"status": 200, "text": {"contains": ["Fibonacci"], "regex": "^Prints"}}
    assert problems(want, text_response(readme)) == []
    assert problems(want, file_response(readme.encode())) == []
    assert problems(want, file_response(readme.encode(), binary=True)) == []
    assert problems(
        {"text": {"contains": ["Lucas"], "not_contains": ["#"]}}, text_response(readme)
    ) == [
        "text (contains): expected 'Lucas', got # Fibonacci Prints numbers.",
        "text (not_contains): expected no '#', got # Fibonacci Prints numbers.",
    ]
    assert problems({"text": {"regex": "^Lucas"}}, text_response(readme)) == [
        "text (regex): expected a match for '^Lucas', got # Fibonacci Prints numbers."
    ]


def test_result_may_be_the_raw_body_with_a_schema_of_its_own(tmp_path: Path) -> None:
    shaped = {"status": "success", "logs": ["one", "two"], "project_id": "p-1"}
    raw = exchange(json.dumps(shaped).encode(), headers=(("Content-Type", "text/plain"),))
    schema_file = tmp_path / "result.json"
    schema_file.write_text(json.dumps({"type": "object", "required": ["logs"]}))
    ref = schemas.from_file("result.json", schema_file, "schemas/result-x.json")
    want = {"result": {"schema": "result.json", "json": {"logs": {"$type": "array"}}}}
    assert check(want, raw, workspace_root=None, schema_refs={"result.json": ref}).mismatches == []
    # without a schema of its own, the shipped one applies
    assert any(line.startswith("result.json schema:") for line in problems({"result": {}}, raw))
    assert problems({"result": {}}, exchange(b"not json")) == ["body: expected JSON, got not json"]
    assert problems({"result": {}}, exchange([1])) == [
        "result: expected .codex/result.json (an object, or a file response), got [1]"
    ]


def test_result_on_disk_takes_the_project_from_the_matrix_or_the_body(tmp_path: Path) -> None:
    shaped = {"status": "success", "logs": []}
    (tmp_path / "p-1" / ".codex").mkdir(parents=True)
    (tmp_path / "p-1" / ".codex" / "result.json").write_text(json.dumps(shaped))
    raw = exchange(shaped)
    refs = {"any": schemas.from_file("any", _write(tmp_path / "any.json", {}), "schemas/any.json")}
    want: dict[str, Any] = {"result": {"schema": "any", "on_disk": True, "project": "p-1"}}
    assert check(want, raw, workspace_root=tmp_path, schema_refs=refs).mismatches == []
    want["result"]["project"] = "../p-1"
    [found] = check(want, raw, workspace_root=tmp_path, schema_refs=refs).mismatches
    assert str(found) == (
        "result.json on disk: expected a project id (give `project:` in `result:`), got '../p-1'"
    )
    del want["result"]["project"]
    [found] = check(want, raw, workspace_root=tmp_path, schema_refs=refs).mismatches
    assert "got none" in str(found)


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_type_and_regex_matchers_inside_json_subsets() -> None:
    body = {"project_id": "0f" * 16, "n": 3, "ok": True, "none": None, "list": [1], "o": {}}
    want = {
        "project_id": {"$regex": "^[0-9a-f]{32}$", "$type": "string"},
        "n": {"$type": ["integer", "null"]},
        "ok": {"$type": "boolean"},
        "none": {"$type": "null"},
        "list": {"$type": "array"},
        "o": {"$type": "object"},
    }
    assert subset_differences(want, body) == []
    assert subset_differences({"ok": {"$type": "integer"}}, {"ok": True}) == [
        ("$.ok", "a JSON integer", "true")
    ]
    assert subset_differences({"n": {"$type": "number"}}, {"n": 1.5}) == []
    assert subset_differences({"n": {"$regex": "^1"}}, {"n": 1}) == [
        ("$.n", "text matching '^1'", "1")
    ]
    # a mapping with other keys is a literal subset, not a matcher
    assert subset_differences({"a": {"$ref": "x"}}, {"a": {"$ref": "x", "b": 1}}) == []


def test_until_style_expectations_need_no_status() -> None:
    assert (
        problems({"json": {"status": "completed"}}, exchange({"status": "completed"}, 200)) == []
    )
    assert problems({"json": {"status": "completed"}}, exchange({"status": "queued"}, 202)) == [
        'json $.status: expected "completed", got "queued"'
    ]


@pytest.mark.parametrize("optional", ["present", "absent"])
def test_the_live_matrix_takes_org_and_project_as_optional(optional: str) -> None:
    """.env.live.example calls OPENAI_ORG_ID and OPENAI_PROJECT optional: a worker that
    reports them absent passes; a missing API key still fails."""
    cases = {c.name: c for c in load_matrix(REPO / "matrices" / "live.yaml").cases}
    case = cases["worker-result-scripted-files"]
    env = {"OPENAI_API_KEY": "present", "OPENAI_ORG_ID": optional, "OPENAI_PROJECT": optional}
    result = {
        **RESULT,
        "created_files": ["README.md", "app.py", "tests/test_cli.py"],
        "logs": {"env": env},
    }
    answer = file_response(json.dumps(result).encode())
    assert (
        check(case.expect, answer, workspace_root=None, schema_refs=case.schemas).mismatches == []
    )
    no_key = {**result, "logs": {"env": {**env, "OPENAI_API_KEY": "absent"}}}
    failed = check(
        case.expect,
        file_response(json.dumps(no_key).encode()),
        workspace_root=None,
        schema_refs=case.schemas,
    )
    assert [m.what for m in failed.mismatches] == ["result.json $.logs.env.OPENAI_API_KEY"]

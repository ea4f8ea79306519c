"""Matrix files: good files load in order; every bad file is one line naming the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.matrix import MatrixError, load_matrix, variables_in
from tests.conftest import REPO

GOOD = """\
name: demo
modes: [mocked]
cases:
  - name: create
    request: {method: POST, path: /api/v1/projects, json: {instruction: hi}}
    expect: {status: 200}
    save: {project_id: id}
  - name: files
    modes: [mocked, live]
    family: dot-dot
    request: {path: "/api/v1/{project_id}/files"}
    expect: {status: [200, 404]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(MatrixError) as caught:
        load_matrix(write(tmp_path, text))
    message = str(caught.value)
    for line in message.splitlines():  # one line per problem, each naming the file
        assert line.startswith(str(tmp_path / "matrix.yaml")), line
    return message


def test_cases_keep_file_order_lines_and_modes(tmp_path: Path) -> None:
    matrix = load_matrix(write(tmp_path, GOOD))
    assert [case.name for case in matrix.cases] == ["create", "files"]
    create, files = matrix.cases
    assert (create.line, files.line) == (4, 8)
    assert create.method == "POST"
    assert files.method == "GET"
    assert create.runs_in("mocked")
    assert not create.runs_in("live")
    assert files.runs_in("live")
    assert files.family == "dot-dot"
    assert dict(create.save) == {"project_id": "id"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /x}\n    expect: {stauts: 200}\n",
            ":5: $.cases[0].expect: Additional properties are not allowed ('stauts' was "
            "unexpected); remove it or fix its spelling",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: x}\n    expect: {status: 200}\n",
            ":4: $.cases[0].request.path: 'x' does not match",
        ),
        (
            "name: x\ncases:\n  - name: A b\n    request: {path: /x}\n    expect: {status: 200}\n",
            "$.cases[0].name: 'A b' does not match '^[a-z0-9][a-z0-9._-]*$'; use lower-case",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /x}\n"
            "    expect: {status: 200, schema: nope}\n",
            "$.cases[0].expect.schema: schema 'nope': no shipped schema has that name",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /x, json: {}, body: ''}\n"
            "    expect: {status: 200}\n",
            "give either `json` or `body`, not both",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /x}\n",
            ": $.cases[0]: 'expect' is a required property; add it",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /a b}\n    expect: {status: 200}\n",
            "$.cases[0].request.path: '/a b' does not match",
        ),
        ("name: x\ncases: []\n", ":2: $.cases: [] should be non-empty"),
        (
            "name: x\ncases: [{name: a, request: {path: /}, expect: {status: 200}}]\n"
            "load: {creations: 1, reads: 1, clients: 1, files: [a]}\n",
            "give either `cases:` (requests) or `load:` (a load run), not both",
        ),
        (
            "name: x\nload: {creations: 1, reads: 1, clients: 1000, files: [a]}\n",
            ":2: $.load.clients: 1000 is greater than the maximum of 256",
        ),
        ("", ": the file is empty; give `name:` and `cases:`"),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /x\n",
            ":5:1: YAML syntax: ",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /x}\n    expect: {status: 200}\n"
            "  - name: a\n    request: {path: /y}\n    expect: {status: 200}\n",
            ":6: $.cases[1].name: 'a' is used twice; give each case its own name",
        ),
        (
            'name: x\ncases:\n  - name: a\n    request: {path: "/x/{pid}"}\n'
            "    expect: {status: 200}\n",
            ":3: $.cases[0]: uses {pid} which no earlier case saves; "
            "add `save: {pid: <json path>}`",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_place_and_fix(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "matrix.yaml"))
    assert expected in message


def test_a_variable_saved_later_is_not_available_earlier(tmp_path: Path) -> None:
    text = GOOD.replace("save: {project_id: id}", "").replace(
        "    expect: {status: [200, 404]}\n",
        "    expect: {status: 200}\n    save: {project_id: id}\n",
    )
    assert "uses {project_id} which no earlier case saves" in error_of(tmp_path, text)


def test_double_braces_are_not_variables() -> None:
    assert variables_in({"a": ["{{literal}}", "/x/{pid}"], "{key}": 1}) == {"pid", "key"}


def test_the_bundled_matrices_load() -> None:
    for name in ("mocked.yaml", "traversal.yaml"):
        assert load_matrix(REPO / "matrices" / name).cases


def test_the_traversal_matrix_covers_every_family_with_thirty_payloads() -> None:
    cases = load_matrix(REPO / "matrices" / "traversal.yaml").cases
    payloads = [case for case in cases if case.family is not None]
    assert len(payloads) >= 30
    assert {case.family for case in payloads} >= {
        "dot-dot",
        "encoded",
        "double-encoded",
        "overlong-utf8",
        "backslash",
        "absolute",
        "nul",
        "mixed",
        "project-id",
    }


def test_the_traversal_corpus_is_generated_and_large() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_traversal_corpus.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cases = load_matrix(REPO / "matrices" / "traversal-corpus.yaml").cases
    payloads = [case for case in cases if case.family is not None]
    assert len(payloads) >= 200
    assert len({case.path for case in payloads}) == len(payloads)
    assert {case.family for case in payloads} >= {
        "dot-dot",
        "absolute",
        "drive",
        "unc",
        "nul",
        "semicolon",
        "sibling",
        "project-id",
    }

"""Matrix files: good files load in order; every bad file is one line naming the fix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_codex.matrix import files as matrix_module
from pytest_codex.matrix.files import (
    MatrixError,
    load_matrix,
    matrix_key,
    matrix_root,
    variables_in,
)
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


ALIAS_BOMB = """\
name: bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
cases:
  - name: a
    request: {path: /x}
    expect: {status: 200, json: [*i, *i, *i, *i, *i, *i, *i, *i, *i]}
"""


def test_an_alias_bomb_is_refused_within_a_second(tmp_path: Path) -> None:
    started = time.perf_counter()
    message = error_of(tmp_path, ALIAS_BOMB)
    assert time.perf_counter() - started < 1
    assert "aliases expand it to" in message
    assert "MAX_ALIAS_NODES" in message


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = (
        "name: x\nbody: &body {instruction: hi}\ncases:\n"
        "  - name: a\n    request: {method: POST, path: /x, json: *body}\n"
        "    expect: {status: 200}\n"
    )
    with pytest.raises(MatrixError, match=r"'body' was unexpected"):
        load_matrix(write(tmp_path, text))  # the anchor's own key is still checked
    text = text.replace("body: &body {instruction: hi}\n", "").replace(
        "json: *body", "json: &body {instruction: hi}, headers: {X-A: b}"
    )
    assert load_matrix(write(tmp_path, text)).cases[0].request["json"] == {"instruction": "hi"}


def test_a_recursive_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    recursive = "name: x\nloop: &l [*l]\n"
    assert "refers to itself" in error_of(tmp_path, recursive)
    deep = "name: x\ncases: " + "[" * 100 + "]" * 100 + "\n"
    assert "nested more than 64 levels deep (MAX_DEPTH)" in error_of(tmp_path, deep)


def test_a_file_over_the_size_limit_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matrix_module, "MAX_MATRIX_BYTES", 1000)
    message = error_of(tmp_path, "name: x\n# " + "x" * 2000 + "\n")
    assert "larger than 1000 bytes (MAX_MATRIX_BYTES)" in message


def test_duplicate_keys_are_refused_with_file_line_and_key(tmp_path: Path) -> None:
    text = (
        "name: x\ncases:\n  - name: a\n    request: {path: /x}\n"
        "    expect:\n      status: 200\n      status: 404\n"
    )
    message = error_of(tmp_path, text)
    assert message == (
        f"{tmp_path / 'matrix.yaml'}:7: key 'status' is given twice in one mapping; keep one"
    )
    assert ":7: key 'status' is given twice" in message
    merged = (
        "name: x\nbase: &base {status: 200}\ncases:\n  - name: a\n    request: {path: /x}\n"
        "    expect: {<<: *base, status: 404}\n"
    )
    assert "'base' was unexpected" in error_of(tmp_path, merged)  # a merge may override


def test_every_schema_error_of_a_file_is_listed_one_line_each(tmp_path: Path) -> None:
    text = (
        "name: x\ncases:\n"
        "  - name: a\n    request: {path: /x}\n    expect: {stauts: 200}\n"
        "  - name: B\n    request: {path: /y}\n    expect: {status: 999}\n"
        "  - name: c\n    request: {path: /z, methd: GET}\n    expect: {status: 200}\n"
    )
    lines = error_of(tmp_path, text).splitlines()
    assert len(lines) >= 4
    joined = "\n".join(lines)
    assert ":5: $.cases[0].expect: Additional properties" in joined
    assert "$.cases[1].name: 'B' does not match" in joined
    assert "$.cases[1].expect.status" in joined
    assert "$.cases[2].request: Additional properties are not allowed ('methd'" in joined


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ('{X-A: "a\\r\\nX-B: b"}', "a header value is one line of Latin-1 text"),
        ('{X-A: "a\\u0000b"}', "a header value is one line of Latin-1 text"),
        ('{"X A\\n": b}', "a header name is one HTTP token"),
    ],
)
def test_headers_with_line_breaks_or_nul_are_refused(
    tmp_path: Path, headers: str, expected: str
) -> None:
    text = f"name: x\ncases:\n  - name: a\n    request: {{path: /x, headers: {headers}}}\n"
    text += "    expect: {status: 200}\n"
    message = error_of(tmp_path, text)
    assert len(message.splitlines()) == 1
    assert expected in message


def test_a_yaml_date_is_sent_as_text_and_binary_is_refused(tmp_path: Path) -> None:
    text = (
        "name: x\ncases:\n  - name: a\n"
        "    request:\n"
        "      {method: POST, path: /x, json: {when: 2026-11-25, at: 2026-11-25 10:00:00}}\n"
        "    expect: {status: 200, json: {when: 2026-11-25}}\n"
    )
    [case] = load_matrix(write(tmp_path, text)).cases
    assert case.request["json"] == {"when": "2026-11-25", "at": "2026-11-25 10:00:00"}
    binary = text.replace("when: 2026-11-25,", "blob: !!binary aGk=,", 1)
    assert ":5: a YAML !!binary value is not JSON" in error_of(tmp_path, binary)
    stamped = text.replace("when: 2026-11-25,", "when: !!timestamp 2026-11-25,", 1)
    assert "!!timestamp value is not JSON" in error_of(tmp_path, stamped)
    keyed = text.replace("when: 2026-11-25,", "200: ok,", 1)
    assert "the key '200' is not text; quote it" in error_of(tmp_path, keyed)


@pytest.mark.parametrize(
    ("expect", "expected"),
    [
        ("{status: 200, json: {a: {$type: text}}}", "'text' is not a JSON type; use one of"),
        ("{status: 200, json: {a: {$regex: '('}}}", "is not a regular expression"),
        ("{status: 200, json: {a: {$type: string, b: 1}}}", "mixes matchers ['$type']"),
        ("{status: 200, text: {regex: '[a'}}", "$.cases[0].expect.text.regex: '[a' is not"),
        ("{status: 200, result: {json: {a: {$type: str}}}}", "$.cases[0].expect.result.json.a"),
        ("{status: 200, files: {at: files}}", "give `exact:` or `contains:`"),
    ],
)
def test_matchers_and_regexes_are_checked_at_collection(
    tmp_path: Path, expect: str, expected: str
) -> None:
    text = f"name: x\ncases:\n  - name: a\n    request: {{path: /x}}\n    expect: {expect}\n"
    assert expected in error_of(tmp_path, text)


def test_schema_files_resolve_relative_to_the_matrix_and_are_checked(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "good.json").write_text('{"type": "object"}')
    (tmp_path / "schemas" / "bad.json").write_text('{"type": "objekt"}')
    (tmp_path / "schemas" / "broken.json").write_text("{nope")
    template = (
        "name: x\ncases:\n  - name: a\n    request: {path: /x}\n"
        "    expect: {status: 200, schema: SCHEMA}\n"
    )
    [case] = load_matrix(write(tmp_path, template.replace("SCHEMA", "schemas/good.json"))).cases
    ref = case.schemas["schemas/good.json"]
    assert ref.source == str(tmp_path / "schemas" / "good.json")
    assert ref.errors([]) == ["$: [] is not of type 'object'"]
    assert ref.bundle_file.startswith("schemas/")
    for name, problem in [
        ("schemas/bad.json", "is not a valid JSON Schema"),
        ("schemas/broken.json", "is not UTF-8 JSON"),
        ("schemas/missing.json", "there is no file"),
    ]:
        message = error_of(tmp_path, template.replace("SCHEMA", name))
        assert f":5: $.cases[0].expect.schema: schema {name!r}: " in message
        assert str(tmp_path / name) in message
        assert problem in message


def test_collection_time_is_linear_in_the_number_of_cases(tmp_path: Path) -> None:
    def timed(count: int) -> float:
        lines = ["name: big", "cases:"]
        lines += [
            f"  - name: c{i}\n    request: {{path: /x/{i}}}\n    expect: {{status: 200}}"
            for i in range(count)
        ]
        path = tmp_path / f"big{count}.yaml"
        path.write_text("\n".join(lines) + "\n")
        started = time.perf_counter()
        assert len(load_matrix(path).cases) == count
        return time.perf_counter() - started

    small, large = timed(1000), timed(4000)
    assert large < small * 4 * 3  # linear with room for a busy machine; quadratic is 16x


def test_matrix_keys_are_unique_per_path_and_safe(tmp_path: Path) -> None:
    root = tmp_path / "m"
    keys = {
        matrix_key(root / "a" / "seed.yaml", root),
        matrix_key(root / "b" / "seed.yaml", root),
        matrix_key(root / "seed.yml", root),
        matrix_key(root / "seed.yaml", root),
        matrix_key(root / "..yaml", root),
        matrix_key(root / "a b" / "seed.yaml", root),
        matrix_key(root / "a_b" / "seed.yaml", root),
    }
    assert len(keys) == 7
    assert matrix_key(root / "a" / "seed.yaml", root) == "a/seed"
    assert all(".." not in key.split("/") and not key.startswith("/") for key in keys)
    assert matrix_root(root / "a" / "seed.yaml", [tmp_path / "other", root]) == root
    assert matrix_root(root / "seed.yaml", [root / "seed.yaml"]) == root


def test_every_matrix_example_in_the_docs_loads(tmp_path: Path) -> None:
    text = (REPO / "docs" / "matrices.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    examples = [block for block in blocks if block.startswith("name:")]
    assert len(examples) >= 9
    (tmp_path / "schemas").mkdir()
    for name in ("project.json", "result.json"):
        (tmp_path / "schemas" / name).write_text('{"type": "object"}')
    for index, example in enumerate(examples):
        path = tmp_path / f"example-{index}.yaml"
        path.write_text(example, encoding="utf-8")
        matrix = load_matrix(path)
        assert matrix.cases or matrix.load, example


def test_a_matrix_outside_its_root_keeps_two_names_and_a_hash(tmp_path: Path) -> None:
    one = matrix_key(tmp_path / "x" / "m" / "seed.yaml", tmp_path / "elsewhere")
    two = matrix_key(tmp_path / "y" / "m" / "seed.yaml", tmp_path / "elsewhere")
    assert re.fullmatch(r"m/seed-[0-9a-f]{8}", one)
    assert one != two
    assert str(tmp_path).strip("/").split("/")[0] not in one.split("/")


def test_a_schema_file_may_refer_to_others_relative_to_itself(tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    (folder / "parts").mkdir(parents=True)
    (folder / "project.json").write_text(
        '{"type": "object", "properties": {"id": {"$ref": "parts/id.json"}}}'
    )
    (folder / "parts" / "id.json").write_text('{"$ref": "uuid.json#/$defs/uuid"}')
    (folder / "parts" / "uuid.json").write_text(
        '{"$defs": {"uuid": {"type": "string", "pattern": "^[0-9a-f-]{36}$"}}}'
    )
    template = (
        "name: x\ncases:\n  - name: a\n    request: {path: /x}\n"
        "    expect: {status: 200, schema: schemas/project.json}\n"
    )
    [case] = load_matrix(write(tmp_path, template)).cases
    ref = case.schemas["schemas/project.json"]
    assert ref.errors({"id": "0" * 36}) == []
    assert ref.errors({"id": 7}) == ["$.id: 7 is not of type 'string'"]
    (folder / "parts" / "uuid.json").unlink()
    message = error_of(tmp_path, template)
    assert f"$ref 'uuid.json' in {folder / 'parts' / 'id.json'} names" in message
    assert "which is not a file; fix the $ref" in message


# ---- schema references stay inside the matrix's folder (issue 18, findings 1 and 7) ----

SCHEMA_CASE = (
    "name: x\ncases:\n  - name: a\n    request: {path: /x}\n"
    "    expect: {status: 200, schema: SCHEMA}\n"
)


@pytest.fixture
def outside_json(tmp_path: Path) -> Path:
    """A readable JSON file outside the matrix's folder (what an attacker would copy)."""
    path = tmp_path.parent / f"{tmp_path.name}-outside" / "canary.json"
    path.parent.mkdir()
    path.write_text('{"type": "object", "description": "OUTSIDE-CANARY"}')
    return path


def test_a_schema_file_outside_the_matrix_folder_is_refused(
    tmp_path: Path, outside_json: Path
) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "link.json").symlink_to(outside_json)
    for name in (
        str(outside_json),
        f"../{outside_json.parent.name}/canary.json",
        "inside/link.json",
    ):
        message = error_of(tmp_path, SCHEMA_CASE.replace("SCHEMA", f"'{name}'"))
        assert f"$.cases[0].expect.schema: schema {name!r}: " in message
        assert f"is outside {tmp_path}; schema files resolve only inside the matrix's" in message


@pytest.mark.parametrize(
    "ref",
    [
        "ABSOLUTE",
        "../../OUTSIDE",
        "parts/link.json",
        "https://example.com/s.json",
        "file:///etc/x.json",
    ],
)
def test_a_schema_ref_leaving_the_matrix_folder_is_one_collection_error(
    tmp_path: Path, outside_json: Path, ref: str
) -> None:
    ref = ref.replace("ABSOLUTE", str(outside_json))
    ref = ref.replace("OUTSIDE", f"{outside_json.parent.name}/canary.json")
    (tmp_path / "schemas" / "parts").mkdir(parents=True)
    (tmp_path / "schemas" / "parts" / "link.json").symlink_to(outside_json)
    (tmp_path / "schemas" / "mine.json").write_text(json.dumps({"$ref": ref}))
    message = error_of(tmp_path, SCHEMA_CASE.replace("SCHEMA", "schemas/mine.json"))
    assert len(message.splitlines()) == 1
    assert f"$ref {ref!r}" in message
    assert str(tmp_path / "schemas" / "mine.json") in message
    assert ("names a URI" if ":" in ref and not ref.startswith("/") else "leaves") in message
    assert "OUTSIDE-CANARY" not in message


def test_the_result_schema_option_folder_is_allowed(tmp_path: Path) -> None:
    """tests/byo keeps its schemas beside --codex-result-schema, not beside the matrix."""
    (tmp_path / "matrices").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "project.json").write_text('{"$ref": "common.json"}')
    (tmp_path / "schemas" / "common.json").write_text('{"type": "object"}')
    matrix = tmp_path / "matrices" / "m.yaml"
    matrix.write_text(SCHEMA_CASE.replace("SCHEMA", "../schemas/project.json"))
    with pytest.raises(MatrixError, match=r"is outside"):
        load_matrix(matrix)
    [case] = load_matrix(matrix, schema_folders=[tmp_path / "schemas"]).cases
    assert case.schemas["../schemas/project.json"].errors([]) == ["$: [] is not of type 'object'"]


def test_a_deeply_nested_schema_is_one_collection_error(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text('{"not":' * 5000 + "{}" + "}" * 5000)
    message = error_of(tmp_path, SCHEMA_CASE.replace("SCHEMA", "deep.json"))
    assert "nests objects and arrays deeper than 64 (MAX_SCHEMA_DEPTH)" in message
    assert "RecursionError" not in message

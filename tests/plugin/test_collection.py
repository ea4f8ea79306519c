"""Matrix files become items; a bad file is one clean line."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

GOOD = """
name: demo
modes: [mocked, live]
cases:
  - name: first
    request: {path: /healthz}
    expect: {status: 200}
  - name: only-live
    modes: [live]
    request: {path: /healthz}
    expect: {status: 200}
  - name: third
    request: {method: POST, path: /api/v1/projects, json: {instruction: x}}
    expect: {status: 200}
"""


def test_cases_become_items_in_order_for_the_mode(pytester: pytest.Pytester) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "demo.yaml").write_text(GOOD)
    result = pytester.runpytest("--collect-only", "-q", "matrices")
    result.stdout.fnmatch_lines(
        ["matrices/demo.yaml::first", "matrices/demo.yaml::third", "2 tests collected*"]
    )
    pytester.path.joinpath(".env.live").write_text("OPENAI_API_KEY=sk-canary-collection\n")
    live = pytester.runpytest("--collect-only", "-q", "--codex-mode=live", "matrices")
    live.stdout.fnmatch_lines(["*::first", "*::only-live", "*::third", "3 tests collected*"])


def test_mode_alone_runs_the_matrices_not_the_testpaths(pytester: pytest.Pytester) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "demo.yaml").write_text(GOOD)
    pytester.makepyfile(test_other="def test_other(): pass")
    plain = pytester.runpytest("--collect-only", "-q")
    plain.stdout.fnmatch_lines(["test_other.py::test_other", "1 test collected*"])
    harness = pytester.runpytest("--collect-only", "-q", "--codex-mode=mocked")
    harness.stdout.fnmatch_lines(["*demo.yaml::first", "*demo.yaml::third"])
    harness.stdout.no_fnmatch_line("*test_other*")


def test_yaml_outside_the_matrix_paths_is_ignored(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("config.yaml").write_text("not: a matrix\n")
    result = pytester.runpytest("--collect-only", "-q", "config.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*not found:*config.yaml*"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /}\n    expect: {status: '200'}\n",
            "*bad.yaml:5: $.cases[[]0[]].expect.status: '200' is not valid under any of the given "
            "schemas; give a status code (100-599) or a list of them",
        ),
        (
            "name: x\ncases:\n  - name: a\n    request: {path: /}\n",
            "*bad.yaml:3: $.cases[[]0[]]: 'expect' is a required property; add it*",
        ),
        ("name: x\ncases: [\n", "*bad.yaml:3:1: YAML syntax: *; fix the syntax there"),
    ],
)
def test_a_bad_matrix_is_one_clean_line(
    pytester: pytest.Pytester, text: str, message: str
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "bad.yaml").write_text(text)
    result = pytester.runpytest("matrices")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*.py:[0-9]*")


def test_bundled_matrices_are_valid(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--collect-only", "-q", "--codex-mode=mocked", f"--codex-matrix={REPO / 'matrices'}"
    )
    result.stdout.fnmatch_lines(["*mocked.yaml::create-project", "*traversal.yaml::dot-dot-1"])
    result.stdout.no_fnmatch_line("*error*")


def test_a_schema_ref_out_of_the_matrix_folder_is_one_collection_error(
    pytester: pytest.Pytester,
) -> None:
    """Issue 18, finding 1: a `$ref` to an absolute path copied any JSON file of the host
    into the bundle and the run passed. Now: one collection error line, exit non-zero."""
    outside = pytester.path.parent / f"{pytester.path.name}-outside.json"
    outside.write_text('{"type": "object", "description": "OUTSIDE-CANARY"}')
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "mine.json").write_text(f'{{"$ref": "{outside}"}}')
    pytester.path.joinpath("matrices", "demo.yaml").write_text(
        GOOD.replace("expect: {status: 200}", "expect: {status: 200, schema: mine.json}", 1)
    )
    result = pytester.runpytest("--collect-only", "-q", "matrices")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"*demo.yaml:*: $.cases?0?.expect.schema: schema 'mine.json': $ref '{outside}' in "
            "*mine.json leaves *; schema $refs resolve only inside the matrix's folder*"
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*OUTSIDE-CANARY*")

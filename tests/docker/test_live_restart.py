"""A harness run survives a restart of its orchestrator: the stack publishes the host
port the harness chose, so the restarted orchestrator answers at the same URL and the
next case passes (real Docker, the bundled mocked stack)."""

from __future__ import annotations

import pytest

CREATE = """\
name: {name}
description: One creation.
modes: [mocked]
cases:
  - name: create-project
    request:
      method: POST
      path: /api/v1/projects
      json: {{instruction: Create a Python CLI app that prints the first 10 Fibonacci numbers.}}
    expect: {{status: 200, json: {{status: completed}}}}
    save: {{project_id: id}}
  - name: list-files
    request: {{path: "/api/v1/{{project_id}}/files"}}
    expect: {{status: 200, files: {{contains: [app.py]}}}}
"""

RESTART = """
import time
import urllib.request

from pytest_codex.adapter.harness import Stack


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_restart_the_orchestrator(codex_stack: Stack) -> None:
    assert codex_stack.compose is not None
    before = codex_stack.compose.run("port", "orchestrator", "8000").strip()
    codex_stack.compose.run("restart", "-t", "5", "orchestrator")
    deadline = time.monotonic() + 60
    while not healthy(codex_stack.base_url):
        assert time.monotonic() < deadline, "the orchestrator did not come back"
        time.sleep(0.25)
    assert codex_stack.compose.run("port", "orchestrator", "8000").strip() == before
"""


def test_the_case_after_a_restart_passes(pytester: pytest.Pytester) -> None:
    matrices = pytester.mkdir("m")
    (matrices / "a_before.yaml").write_text(CREATE.format(name="before"))
    (matrices / "c_after.yaml").write_text(CREATE.format(name="after"))
    pytester.makepyfile(test_b_restart=RESTART)
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-matrix={matrices}",
        "--codex-evidence-dir=evidence",
        "-v",
        "-p",
        "no:cacheprovider",
        "m/a_before.yaml",
        "test_b_restart.py",
        "m/c_after.yaml",
        timeout=600,
    )
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*a_before.yaml::create-project PASSED*",
            "*test_b_restart.py::test_restart_the_orchestrator PASSED*",
            "*c_after.yaml::create-project PASSED*",
            "*c_after.yaml::list-files PASSED*",
        ]
    )

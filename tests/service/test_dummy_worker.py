"""The mocked worker writes a project that really works: its CLI prints the numbers and
its own pytest test passes; an edit appends one clean comment line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex_orchestrator.dummy_worker import DummyWorker, edit_line
from pytest_codex_orchestrator.results import RESULT_KEYS

FIBONACCI = (
    "Create a Python CLI app that prints the first 10 Fibonacci numbers, "
    "with a README and a pytest test."
)
FIRST_TEN = ["0", "1", "1", "2", "3", "5", "8", "13", "21", "34"]


def request(job_type: str, instruction: str) -> dict[str, Any]:
    return {
        "job_id": "1" * 32,
        "project_id": "2" * 32,
        "job_type": job_type,
        "instruction": instruction,
        "created_at": "2024-05-01T12:00:00.000Z",
    }


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def run_pytest(workspace: Path) -> subprocess.CompletedProcess[str]:
    """Plain pytest in the workspace: no plugins of this environment, no cache files."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.fixture
def created(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    workspace = tmp_path / "project"
    workspace.mkdir()
    worker = DummyWorker(environ={"OPENAI_API_KEY": "sk-canary-value", "OPENAI_PROJECT": ""})
    return workspace, worker.run(workspace, request("create", FIBONACCI))


def test_create_writes_the_project_and_its_result(created: tuple[Path, dict[str, Any]]) -> None:
    workspace, result = created
    assert files_under(workspace) == [
        ".codex/result.json",
        "README.md",
        "app.py",
        "tests/test_cli.py",
    ]
    assert json.loads((workspace / ".codex" / "result.json").read_text()) == result
    assert tuple(result) == RESULT_KEYS
    assert result["status"] == "success"
    assert result["job_type"] == "create"
    assert result["worker"] == "dummy"
    assert result["created_files"] == ["README.md", "app.py", "tests/test_cli.py"]
    assert result["modified_files"] == []
    assert result["logs"] == {
        "env": {"OPENAI_API_KEY": "present", "OPENAI_ORG_ID": "absent", "OPENAI_PROJECT": "absent"}
    }
    assert result["usage"] is None
    assert result["error"] is None
    assert isinstance(result["timing"]["duration_ms"], int)
    assert result["timing"]["started_at"].endswith("Z")
    assert "sk-canary-value" not in (workspace / ".codex" / "result.json").read_text()
    assert FIBONACCI in (workspace / "README.md").read_text()


def test_the_same_project_for_any_instruction(
    tmp_path: Path, created: tuple[Path, dict[str, Any]]
) -> None:
    workspace, _ = created
    other = tmp_path / "other"
    other.mkdir()
    DummyWorker(environ={}).run(other, request("create", "Write a web browser in COBOL."))
    for name in ("app.py", "tests/test_cli.py"):
        assert (other / name).read_bytes() == (workspace / name).read_bytes()
    assert "Write a web browser in COBOL." in (other / "README.md").read_text()


def test_app_py_prints_the_first_ten_fibonacci_numbers(
    created: tuple[Path, dict[str, Any]],
) -> None:
    workspace, _ = created
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == FIRST_TEN
    five = subprocess.run(
        [sys.executable, "app.py", "-n", "5"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert five.stdout.splitlines() == FIRST_TEN[:5]


def test_the_generated_test_passes_under_pytest(created: tuple[Path, dict[str, Any]]) -> None:
    workspace, _ = created
    done = run_pytest(workspace)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_generated_test_fails_when_the_app_is_wrong(
    created: tuple[Path, dict[str, Any]],
) -> None:
    workspace, _ = created
    app = workspace / "app.py"
    app.write_text(
        app.read_text().replace("current, following = 0, 1", "current, following = 1, 1")
    )
    done = run_pytest(workspace)
    assert done.returncode == 1, done.stdout


def test_edit_appends_one_comment_line(created: tuple[Path, dict[str, Any]]) -> None:
    workspace, _ = created
    before = (workspace / "app.py").read_text()
    result = DummyWorker(environ={}).run(
        workspace, request("edit", "Add a comment\x07 that explains the CLI flags.\nignored")
    )
    after = (workspace / "app.py").read_text()
    assert after == before + "# edit: Add a comment that explains the CLI flags.\n"
    assert result["status"] == "success"
    assert result["job_type"] == "edit"
    assert result["modified_files"] == ["app.py"]
    assert result["created_files"] == []
    assert json.loads((workspace / ".codex" / "result.json").read_text()) == result
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.splitlines() == FIRST_TEN  # still a working program


def test_edit_without_app_py_is_a_structured_failure(tmp_path: Path) -> None:
    result = DummyWorker(environ={}).run(tmp_path, request("edit", "change it"))
    assert result["status"] == "failed"
    assert result["error"] == {
        "type": "missing_file",
        "message": result["summary"],
        "exit_code": None,
    }


@pytest.mark.parametrize(
    ("instruction", "line"),
    [
        ("simple", "simple"),
        ("\n\n  second line wins  \nthird", "second line wins"),
        ("tab\there\x1b[31m red", "tabhere[31m red"),
        ("x" * 300, "x" * 200),
        ("a\u2028b", "a"),
    ],
)
def test_edit_line(instruction: str, line: str) -> None:
    assert edit_line(instruction) == line

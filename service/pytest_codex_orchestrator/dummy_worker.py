"""The mocked worker: a deterministic stand-in for the Codex CLI, run in-process.

A create job writes the same small, working Python project whatever the instruction
(only the README quotes it): a Fibonacci CLI and a pytest test that runs it. An edit
job appends one comment line to `app.py`. Both write `.codex/result.json`.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_codex_orchestrator.clock import utc_now
from pytest_codex_orchestrator.results import RESULT_FILE, make_result, write_json

WORKER_NAME = "dummy"
EDIT_LINE_LIMIT = 200

APP_PY = '''\
"""Print the first N Fibonacci numbers, one per line.

    python app.py          # the first 10: 0 1 1 2 3 5 8 13 21 34
    python app.py -n 5     # the first 5
"""

from __future__ import annotations

import argparse


def fibonacci(count: int) -> list[int]:
    """The first `count` Fibonacci numbers, starting 0, 1."""
    numbers: list[int] = []
    current, following = 0, 1
    for _ in range(count):
        numbers.append(current)
        current, following = following, current + following
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the first N Fibonacci numbers.")
    parser.add_argument("-n", type=int, default=10, metavar="N",
                        help="how many numbers to print (default: 10)")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error(f"-n: {args.n} is negative; use 0 or more")
    for number in fibonacci(args.n):
        print(number)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
'''

TEST_CLI_PY = '''\
"""Runs app.py as a user would and checks what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(APP), *args], capture_output=True,
                          text=True, timeout=30, check=False)


def test_prints_the_first_ten_fibonacci_numbers() -> None:
    done = run_app()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1", "1", "2", "3", "5", "8", "13", "21", "34"]


def test_n_sets_how_many_numbers() -> None:
    done = run_app("-n", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1", "1", "2", "3"]


def test_negative_n_is_an_error() -> None:
    done = run_app("-n", "-1")
    assert done.returncode == 2
    assert "negative" in done.stderr
'''

README_MD = """\
# Fibonacci CLI

A small command-line program that prints the first N Fibonacci numbers, one per line.

## Instruction

{instruction}

## Use

```sh
python app.py          # 0 1 1 2 3 5 8 13 21 34, one per line
python app.py -n 5     # the first 5 numbers
```

## Test

```sh
python -m pytest -q
```

Written by the orchestrator's dummy worker (mocked mode).
"""

PROJECT_FILES = ("README.md", "app.py", "tests/test_cli.py")


class DummyWorker:
    """Writes the fixed project (create) or appends a comment to `app.py` (edit)."""

    name = WORKER_NAME

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        started_at = utc_now()
        job_type = str(request.get("job_type", "create"))
        instruction = str(request.get("instruction", ""))
        if job_type == "create":
            result = self._create(workspace, instruction, started_at)
        elif job_type == "edit":
            result = self._edit(workspace, instruction, started_at)
        else:
            result = self._failed(
                job_type,
                started_at,
                "unknown_job_type",
                f"job_type: {job_type!r} is not a job type; use create or edit",
            )
        write_json(workspace, RESULT_FILE, result)
        return result

    def _create(self, workspace: Path, instruction: str, started_at: str) -> dict[str, Any]:
        contents = {
            "README.md": README_MD.format(instruction=_quote_block(instruction)),
            "app.py": APP_PY,
            "tests/test_cli.py": TEST_CLI_PY,
        }
        for relative, text in contents.items():
            target = workspace / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return make_result(
            status="success",
            summary="Created a Fibonacci CLI (app.py), its README and a pytest test.",
            job_type="create",
            worker=WORKER_NAME,
            environ=self.environ,
            started_at=started_at,
            created_files=PROJECT_FILES,
        )

    def _edit(self, workspace: Path, instruction: str, started_at: str) -> dict[str, Any]:
        app = workspace / "app.py"
        if not app.is_file():
            return self._failed(
                "edit",
                started_at,
                "missing_file",
                "app.py: not in the workspace, so there is nothing to edit; "
                "create the project again",
            )
        text = app.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text += "\n"
        app.write_text(f"{text}# edit: {edit_line(instruction)}\n", encoding="utf-8")
        return make_result(
            status="success",
            summary="Appended the instruction to app.py as a comment.",
            job_type="edit",
            worker=WORKER_NAME,
            environ=self.environ,
            started_at=started_at,
            modified_files=["app.py"],
        )

    def _failed(
        self, job_type: str, started_at: str, error_type: str, message: str
    ) -> dict[str, Any]:
        return make_result(
            status="failed",
            summary=message,
            job_type=job_type,
            worker=WORKER_NAME,
            environ=self.environ,
            started_at=started_at,
            error={"type": error_type, "message": message, "exit_code": None},
        )


def edit_line(instruction: str) -> str:
    """The first non-blank line of `instruction`, without control characters, at most
    `EDIT_LINE_LIMIT` characters."""
    for line in instruction.splitlines():
        clean = "".join(char for char in line if unicodedata.category(char) != "Cc").strip()
        if clean:
            return clean[:EDIT_LINE_LIMIT].rstrip()
    return ""


def _quote_block(instruction: str) -> str:
    """The instruction as a Markdown block quote, without control characters."""
    lines = [
        "".join(char for char in line if unicodedata.category(char) != "Cc")
        for line in instruction.strip().splitlines()
    ]
    return "\n".join(f"> {line}".rstrip() for line in lines) or ">"

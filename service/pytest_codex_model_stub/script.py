"""What the stand-in answers: a scenario chosen from the request, and its output items.

Stateless, like the API itself (the CLI re-sends the whole history each turn):
- the history ends with a tool call's output → an assistant message ends the turn;
- the user text asks to edit the existing project → one `apply_patch` updating app.py;
- otherwise → one `apply_patch` adding README.md, app.py and tests/test_cli.py.
A marker `[model-stub:<fault>]` in the user text asks for a failure instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FAULTS = ("401", "429", "500", "failed", "stall", "hang")
FAULT_MARKER = re.compile(r"\[model-stub:([a-z0-9]+)\]")
EDIT_MARKER = "Edit the existing project"
TOOL_OUTPUTS = ("custom_tool_call_output", "function_call_output")

APP_PY = """\
\"\"\"Print the first N Fibonacci numbers, one per line (default 10).\"\"\"

import argparse


def fibonacci(count):
    numbers, current, following = [], 0, 1
    for _ in range(count):
        numbers.append(current)
        current, following = following, current + following
    return numbers


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print the first N Fibonacci numbers.")
    parser.add_argument("-n", type=int, default=10, help="how many numbers (default 10)")
    args = parser.parse_args(argv)
    for number in fibonacci(args.n):
        print(number)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
"""

README_MD = """\
# Fibonacci CLI

    python app.py        # 0 1 1 2 3 5 8 13 21 34, one per line
    python app.py -n 5   # the first 5

Run the test with `python -m pytest tests`.
"""

TEST_CLI_PY = """\
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def test_prints_the_first_ten_numbers():
    done = subprocess.run([sys.executable, str(APP)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "1", "1", "2", "3", "5", "8", "13", "21", "34"]
"""

EDIT_LINE = "# Flags: -n N prints the first N numbers (default 10)."
SUMMARIES = {
    "finish-create": "Created README.md, app.py (a Fibonacci CLI, -n N) and tests/test_cli.py.",
    "finish-edit": "Added a comment to app.py that explains the -n flag.",
}


def _add(path: str, text: str) -> str:
    return f"*** Add File: {path}\n" + "".join(f"+{line}\n" for line in text.splitlines())


CREATE_PATCH = (
    "*** Begin Patch\n"
    + _add("README.md", README_MD)
    + _add("app.py", APP_PY)
    + _add("tests/test_cli.py", TEST_CLI_PY)
    + "*** End Patch\n"
)
EDIT_PATCH = (
    "*** Begin Patch\n*** Update File: app.py\n@@\n"
    ' if __name__ == "__main__":\n     raise SystemExit(main())\n'
    f"+{EDIT_LINE}\n*** End Patch\n"
)


def user_text(body: Mapping[str, Any]) -> str:
    """Every user-authored text of the request's `input`, joined."""
    texts: list[str] = []
    for item in body.get("input") or []:
        if not isinstance(item, Mapping) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [str(part.get("text", "")) for part in content if isinstance(part, Mapping)]
    return "\n".join(texts)


def scenario(body: Mapping[str, Any]) -> str:
    """`create`, `edit`, `finish-create`, `finish-edit`, or a fault name."""
    text = user_text(body)
    fault = FAULT_MARKER.search(text)
    if fault and fault.group(1) in FAULTS:
        return fault.group(1)
    items = body.get("input") or []
    last = items[-1] if items else {}
    job = "edit" if EDIT_MARKER in text else "create"
    if isinstance(last, Mapping) and last.get("type") in TOOL_OUTPUTS:
        return f"finish-{job}"
    return job


def output_items(name: str, turn: int) -> list[dict[str, Any]]:
    """The output items of a scripted turn."""
    if name.startswith("finish-"):
        return [
            {
                "type": "message",
                "role": "assistant",
                "id": f"msg_{turn}",
                "content": [{"type": "output_text", "text": SUMMARIES[name]}],
            }
        ]
    patch = EDIT_PATCH if name == "edit" else CREATE_PATCH
    return [
        {
            "type": "custom_tool_call",
            "id": f"ctc_{turn}",
            "call_id": f"call_{turn}",
            "name": "apply_patch",
            "input": patch,
            "status": "completed",
        }
    ]

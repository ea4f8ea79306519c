"""Constants shared by the project's own tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The seed plan's instruction and the exact files the mocked worker makes for it.
FIBONACCI = (
    "Create a Python CLI app that prints the first 10 Fibonacci numbers, "
    "with a README and a pytest test."
)
SEED_FILES = [
    ".codex/request.json",
    ".codex/result.json",
    "README.md",
    "app.py",
    "tests/test_cli.py",
]

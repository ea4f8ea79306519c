"""The live env file: read with python-dotenv, checked before anything starts.

Values live only in memory and in the environment handed to compose; `LiveEnv`'s repr
shows names and presence, never a value. No pytest import here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

OPENAI_VARIABLES = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT")
PASSED_VARIABLES = (*OPENAI_VARIABLES, "OPENAI_BASE_URL", "CODEX_MODEL")


class EnvFileError(Exception):
    """The env file is missing or incomplete; the text names the file and the fix."""


@dataclass(frozen=True)
class LiveEnv:
    path: Path
    values: Mapping[str, str] = field(repr=False)

    def presence(self) -> dict[str, str]:
        return {
            name: "present" if self.values.get(name) else "absent" for name in OPENAI_VARIABLES
        }

    def secrets(self) -> dict[str, str]:
        """Every value in the file, by name: all of them are redacted from the evidence."""
        return {name: value for name, value in self.values.items() if value}

    def __repr__(self) -> str:
        return f"LiveEnv(path={str(self.path)!r}, presence={self.presence()!r})"


def load(path: Path) -> LiveEnv:
    if not path.is_file():
        raise EnvFileError(
            f"--codex-env-file: {str(path)!r} does not exist; copy .env.live.example to "
            ".env.live and set OPENAI_API_KEY (any value works with the bundled model stub)"
        )
    values = {name: value for name, value in dotenv_values(path).items() if value}
    if "OPENAI_API_KEY" not in values:
        raise EnvFileError(
            f"--codex-env-file: {str(path)!r} sets no OPENAI_API_KEY; add a line "
            "OPENAI_API_KEY=... (live mode needs it)"
        )
    return LiveEnv(path=path, values=values)


def git_ignored(repo: Path, names: tuple[str, ...] = (".env", ".env.live")) -> dict[str, str]:
    """For each name: "ignored", "NOT IGNORED" or "no git repository"."""
    status: dict[str, str] = {}
    for name in names:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), "check-ignore", "-q", name],
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            status[name] = "no git repository"
            continue
        status[name] = {0: "ignored", 1: "NOT IGNORED"}.get(done.returncode, "no git repository")
    return status

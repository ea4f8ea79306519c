"""The live env file: parsed with python-dotenv, values never in a repr."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_codex.config.envfile import EnvFileError, git_ignored, load

CANARY = "canary-key-5d1f0b9e7c3a"


def test_values_are_loaded_and_hidden(tmp_path: Path) -> None:
    path = tmp_path / ".env.live"
    path.write_text(
        f"OPENAI_API_KEY={CANARY}\nOPENAI_ORG_ID='org-canary-1234'\n# note\nOPENAI_PROJECT=\n"
    )
    env = load(path)
    assert env.values["OPENAI_API_KEY"] == CANARY
    assert env.values["OPENAI_ORG_ID"] == "org-canary-1234"
    assert env.presence() == {
        "OPENAI_API_KEY": "present",
        "OPENAI_ORG_ID": "present",
        "OPENAI_PROJECT": "absent",
    }
    assert set(env.secrets().values()) == {CANARY, "org-canary-1234"}
    assert CANARY not in repr(env)
    assert CANARY not in str(env)


def test_missing_file_and_missing_key_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match=r"does not exist; copy \.env\.live\.example"):
        load(tmp_path / ".env.live")
    path = tmp_path / ".env.live"
    path.write_text("OPENAI_ORG_ID=x\n")
    with pytest.raises(EnvFileError, match="sets no OPENAI_API_KEY; add a line"):
        load(path)


def test_git_ignore_status(tmp_path: Path) -> None:
    assert git_ignored(tmp_path) == {".env": "no git repository", ".env.live": "no git repository"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(".env\n")
    assert git_ignored(tmp_path) == {".env": "ignored", ".env.live": "NOT IGNORED"}

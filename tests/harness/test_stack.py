"""Compose argument lists and workspace snapshots (no Docker needed)."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_codex import stack


def test_compose_argv_is_a_list_with_files_and_project() -> None:
    compose = stack.Compose(
        ("docker-compose",), (Path("/a/x.yaml"), Path("/b/y z.yaml")), "proj-1"
    )
    assert compose.argv("up", "-d") == [
        "docker-compose",
        "-f",
        "/a/x.yaml",
        "-f",
        "/b/y z.yaml",
        "-p",
        "proj-1",
        "up",
        "-d",
    ]
    assert stack.shell_command(("docker", "compose")) == "docker compose"


def test_project_ids_skip_bookkeeping_and_symlinks(tmp_path: Path) -> None:
    project = "0123456789abcdef0123456789abcdef"
    (tmp_path / project).mkdir()
    (tmp_path / ".jobs").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / ("f" * 32)).symlink_to(tmp_path / project)
    assert stack.project_ids(tmp_path) == [project]


def test_listing_and_result(tmp_path: Path) -> None:
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "result.json").write_text(json.dumps({"status": "success"}))
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "escape").symlink_to("/etc/passwd")
    assert stack.listing(tmp_path) == [
        {"path": ".codex/result.json", "size": 21},
        {"path": "app.py", "size": 9},
    ]
    assert stack.read_result(tmp_path) == {"status": "success"}


def test_outside_canary_is_random_and_on_disk(tmp_path: Path) -> None:
    first = stack.plant_outside_canary(tmp_path)
    second = stack.plant_outside_canary(tmp_path / "b")
    assert first != second
    assert (tmp_path / stack.OUTSIDE_CANARY_NAME).read_text().strip() == first

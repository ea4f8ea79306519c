"""Compose argument lists and workspace snapshots (no Docker needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_codex.secrets import patterns
from pytest_codex.target import compose as stack


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


def test_project_ids_take_any_id_format_but_skip_bookkeeping_and_symlinks(
    tmp_path: Path,
) -> None:
    ids = ["0123456789abcdef0123456789abcdef", "42", "proj_AbC-1", "3f2a-uuid-4-style", "émoji😀"]
    for project in ids:
        (tmp_path / project).mkdir()
    (tmp_path / ".jobs").mkdir()
    (tmp_path / ("f" * 32)).symlink_to(tmp_path / ids[0])
    (tmp_path / "outside-dir").symlink_to(tmp_path.parent)
    stack.plant_outside_canary(tmp_path)
    (tmp_path / "a-file").write_text("not a project")
    assert stack.project_ids(tmp_path) == sorted(ids)
    assert stack.project_ids(tmp_path / "missing") == []
    assert len(stack.project_ids(tmp_path, max_entries=3)) <= 3


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


def test_a_1000_level_tree_is_listed_to_the_depth_limit_without_recursion(
    tmp_path: Path,
) -> None:
    # Made and removed in loops: pathlib's mkdir(parents=True) and rmtree recurse too.
    levels = [tmp_path / "/".join(["d"] * depth) for depth in range(1, 1001)]
    for level in levels:
        level.mkdir()
    (levels[-1] / "bottom.txt").write_text("x")
    (tmp_path / "top.txt").write_text("top")
    try:
        entries = stack.listing(tmp_path)
        assert entries[0] == {"path": "top.txt", "size": 3}
        [skipped] = entries[1:]
        assert skipped == {
            "path": "/".join(["d"] * (stack.MAX_WALK_DEPTH + 1)),
            "skipped": f"deeper than {stack.MAX_WALK_DEPTH} folders",
        }
        assert stack.listing(tmp_path, max_depth=2000) == [
            {"path": "/".join(["d"] * 1000) + "/bottom.txt", "size": 1},
            {"path": "top.txt", "size": 3},
        ]
    finally:
        (levels[-1] / "bottom.txt").unlink()
        for level in reversed(levels):
            level.rmdir()


def test_a_listing_stops_at_the_entry_limit_and_says_so(tmp_path: Path) -> None:
    for index in range(50):
        (tmp_path / f"f{index:02}").write_text("x")
    entries = stack.listing(tmp_path, max_entries=10)
    assert len([e for e in entries if "size" in e]) == 10
    assert entries[-1] == {"path": "", "skipped": "over 10 entries in all"}


def test_a_listing_never_enters_a_symlinked_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "link").symlink_to(outside)
    (workspace / "loop").symlink_to(workspace)
    assert stack.listing(workspace) == []


@pytest.mark.parametrize("planted", ["file-link", "folder-link", "fifo", "too-big", "not-json"])
def test_a_hostile_result_json_is_not_read(tmp_path: Path, planted: str) -> None:
    outside = tmp_path / "outside"
    (outside / ".codex").mkdir(parents=True)
    (outside / ".codex" / "result.json").write_text('{"stolen": true}')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    codex = workspace / ".codex"
    if planted == "folder-link":
        codex.symlink_to(outside / ".codex")
    else:
        codex.mkdir()
        result = codex / "result.json"
        if planted == "file-link":
            result.symlink_to(outside / ".codex" / "result.json")
        elif planted == "fifo":
            os.mkfifo(result)
        elif planted == "too-big":
            result.write_text(json.dumps({"pad": "x" * 200}))
        else:
            result.write_text("{not json")
    assert stack.read_result(workspace, max_bytes=100) is None


def test_the_pattern_scan_of_a_1000_level_folder_names_what_it_left_out(tmp_path: Path) -> None:
    levels = [tmp_path / "/".join(["d"] * depth) for depth in range(1, 1001)]
    for level in levels:
        level.mkdir()
    (tmp_path / "key.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    try:
        assert patterns.scan_patterns(tmp_path) == [
            "/".join(["d"] * (stack.MAX_WALK_DEPTH + 1))
            + f": not scanned (deeper than {stack.MAX_WALK_DEPTH} folders)",
            "key.pem:1: Private Key",
        ]
    finally:
        for level in reversed(levels):
            level.rmdir()


@pytest.mark.parametrize(
    "output",
    [
        "Error response from daemon: driver failed programming external connectivity on "
        "endpoint x: Bind for 127.0.0.1:8000 failed: port is already allocated",
        "Error starting userland proxy: listen tcp4 127.0.0.1:8000: bind: address already in use",
    ],
)
def test_a_taken_host_port_gets_a_hint(output: str) -> None:
    hint = stack.port_clash_hint(output)
    assert "host port 127.0.0.1:8000 is already taken" in hint
    assert '"127.0.0.1::8000"' in hint
    assert stack.port_clash_hint("no such image: x") == ""

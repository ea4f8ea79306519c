"""The descriptor walk on its own: symlinks inside the workspace are followed from the
folders already held, every way out is refused, and the checks on the final descriptor
(regular, one name, size) hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_codex_orchestrator.paths import UnsafePathError, client_path_parts
from pytest_codex_orchestrator.workspace_files import (
    FileLimits,
    FileMissingError,
    FileTooLargeError,
    read_file,
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("inside\n")
    (root / "app.py").write_text("app\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return root


def read(workspace: Path, raw: str, limits: FileLimits | None = None) -> bytes:
    return read_file(workspace, raw, client_path_parts(raw), limits or FileLimits()).data


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("relative", "src/pkg/mod.py"),
        ("dotdot", "src/../src/pkg/mod.py"),
        ("absolute", "{workspace}/src/pkg/mod.py"),
        ("chain", "relative"),
    ],
)
def test_a_symlink_inside_is_followed(workspace: Path, name: str, target: str) -> None:
    if name == "chain":
        (workspace / "relative").symlink_to("src/pkg/mod.py")
    (workspace / name).symlink_to(target.format(workspace=workspace))
    assert read(workspace, name) == b"inside\n"


def test_a_symlinked_folder_inside_is_followed_and_dotdot_is_physical(workspace: Path) -> None:
    (workspace / "pkg").symlink_to("src/pkg", target_is_directory=True)
    (workspace / "src" / "pkg" / "up").symlink_to("../../app.py")
    assert read(workspace, "pkg/mod.py") == b"inside\n"
    assert read(workspace, "pkg/up") == b"app\n"


@pytest.mark.parametrize(
    "target",
    ["../secret.txt", "{workspace}/../secret.txt", "{secret}", "/proc/self/environ", "src/../.."],
)
def test_every_way_out_is_refused(workspace: Path, target: str) -> None:
    secret = workspace.parent / "secret.txt"
    (workspace / "door").symlink_to(target.format(workspace=workspace, secret=secret))
    with pytest.raises(UnsafePathError, match="leads outside the project workspace"):
        read(workspace, "door")


def test_a_symlinked_folder_out_is_refused(workspace: Path) -> None:
    (workspace / "door").symlink_to(workspace.parent, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="leads outside"):
        read(workspace, "door/secret.txt")


def test_a_symlink_loop_is_refused(workspace: Path) -> None:
    (workspace / "a").symlink_to("b")
    (workspace / "b").symlink_to("a")
    with pytest.raises(UnsafePathError, match="more than 40 symlinks"):
        read(workspace, "a")


def test_the_final_descriptor_is_checked(workspace: Path) -> None:
    os.link(workspace.parent / "secret.txt", workspace / "hard")
    with pytest.raises(UnsafePathError, match=r"hard-linked file \(2 names\)"):
        read(workspace, "hard")
    os.mkfifo(workspace / "pipe")
    for raw in ("pipe", "src", "missing.py", "app.py/x", "src/missing/x.py"):
        with pytest.raises(FileMissingError):
            read(workspace, raw)
    with pytest.raises(FileTooLargeError, match=r"'app.py' is 4 bytes, over the limit of 3"):
        read(workspace, "app.py", FileLimits(max_file_bytes=3))
    assert read(workspace, "app.py", FileLimits(max_file_bytes=4)) == b"app\n"


def test_depth_is_bounded(workspace: Path) -> None:
    assert read(workspace, "src/pkg/mod.py", FileLimits(max_depth=2)) == b"inside\n"
    with pytest.raises(UnsafePathError, match=r"more than 1 folders deep"):
        read(workspace, "src/pkg/mod.py", FileLimits(max_depth=1))

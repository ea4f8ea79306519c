"""The one function that decides client paths: every traversal form is refused, plain
relative paths (dots in names included) are accepted, symlinks are judged by where they
really lead, and listings never follow a symlink out."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from pytest_codex_orchestrator.paths import (
    InvalidProjectIdError,
    UnsafePathError,
    resolve_in_workspace,
    validate_project_id,
)
from pytest_codex_orchestrator.workspace_files import FileEntry, FileLimits, list_files


def list_workspace(workspace: Path) -> list[FileEntry]:
    return list_files(workspace, FileLimits())


CANARY = "OUTSIDE-CANARY.txt"

UNSAFE = [
    # dot-dot at depths 1 to 4, and after harmless segments
    "..",
    f"../{CANARY}",
    "../../etc/passwd",
    "../../../etc/passwd",
    "../../../../etc/passwd",
    f"app.py/../../{CANARY}",
    f"./../{CANARY}",
    f"tests/../../{CANARY}",
    "tests/..",
    # percent-encoded
    f"%2e%2e/{CANARY}",
    f"%2e%2e%2f{CANARY}",
    f"..%2f{CANARY}",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    f".%2e/{CANARY}",
    f"%2e./{CANARY}",
    f"a/%2e%2e/%2e%2e/{CANARY}",
    # double and triple encoded
    f"%252e%252e/{CANARY}",
    f"%252e%252e%252f{CANARY}",
    f"..%252f{CANARY}",
    "%25252e%25252e%25252fetc%25252fpasswd",
    "%2525252525252e%2525252525252e",  # still changing after the decode rounds
    # overlong UTF-8 and other bytes that are not UTF-8
    f"%c0%ae%c0%ae/{CANARY}",
    f"%C0%AE%C0%AE/{CANARY}",
    f"%c0%ae%c0%ae%c0%af{CANARY}",
    f"%e0%80%ae%e0%80%ae/{CANARY}",
    f"..%c0%af{CANARY}",
    "%ff%fe",
    # %u escapes and fullwidth forms
    f"%u002e%u002e/{CANARY}",
    f"%uff0e%uff0e/{CANARY}",
    f"\uff0e\uff0e/{CANARY}",
    f"%ef%bc%8e%ef%bc%8e/{CANARY}",
    f"..\uff0f{CANARY}",
    f"\uff3c..\uff3c{CANARY}",
    # backslashes
    f"..\\{CANARY}",
    f"..%5c{CANARY}",
    f"tests\\..\\..\\{CANARY}",
    "%5c..%5c..%5cetc%5cpasswd",
    "\\\\server\\share\\file.txt",
    # absolute, drive letters, UNC-ish
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "///etc/passwd",
    "//server/share/file.txt",
    "C:\\Windows\\win.ini",
    "c:/windows/win.ini",
    "c:%5cwindows%5cwin.ini",
    "C:",
    # NUL and other control characters
    "app.py\x00.txt",
    "app.py%00.txt",
    f"..%00/{CANARY}",
    "%2e%2e%00%2fetc%2fpasswd",
    "app.py%0a",
    "tests/%09test_cli.py",
    "app.py\x7f",
    # path parameters, dots only, empty segments, the workspace itself, nothing
    f"..;/{CANARY}",
    f"..;jsessionid=1/{CANARY}",
    f".../{CANARY}",
    f"../ /{CANARY}",
    f".. /{CANARY}",
    "tests//test_cli.py",
    "tests/",
    ".",
    "./",
    "",
    # `.` and empty segments (issue 18, finding 8: `app.py/.` was served as app.py)
    "./app.py",
    "app.py/.",
    "app.py/./",
    "tests/./test_cli.py",
    "app.py/%2e",
    "%2e/app.py",
    ".;x/app.py",
    "app.py/",
    "x" * 5000,
    # mixed
    "..%2f..%5c..%2fetc/passwd",
    f"%2e%2e%5c%252e%252e/{CANARY}",
]

SAFE = {
    "app.py": "app.py",
    "a..b.txt": "a..b.txt",
    "..a": "..a",
    "a..": "a..",
    ".codex/result.json": ".codex/result.json",
    "%2ecodex/result.json": ".codex/result.json",
    "dir/sub/file": "dir/sub/file",
    "tests/test_cli.py": "tests/test_cli.py",
    "name%20with%20space.txt": "name with space.txt",
    "100%25.txt": "100%.txt",
    "%c3%bcber.txt": "\u00fcber.txt",
    "a;b.txt": "a;b.txt",
    "does/not/exist.txt": "does/not/exist.txt",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspaces"
    project = root / uuid.uuid4().hex
    (project / "tests").mkdir(parents=True)
    (project / "app.py").write_text("print('inside')\n")
    (root / CANARY).write_text("canary outside the workspace\n")
    return project


@pytest.mark.parametrize("raw", UNSAFE)
def test_unsafe_paths_are_refused(workspace: Path, raw: str) -> None:
    with pytest.raises(UnsafePathError) as refused:
        resolve_in_workspace(workspace, raw)
    message = str(refused.value)
    assert message.startswith("file path: ")
    assert "; ask for a path relative to the project workspace" in message


def test_there_are_plenty_of_payloads() -> None:
    assert len(UNSAFE) >= 40
    assert len(set(UNSAFE)) == len(UNSAFE)


@pytest.mark.parametrize(("raw", "relative"), SAFE.items())
def test_safe_paths_resolve_inside(workspace: Path, raw: str, relative: str) -> None:
    assert resolve_in_workspace(workspace, raw) == workspace.resolve() / relative


def test_the_message_quotes_the_value_and_the_decoded_form(workspace: Path) -> None:
    with pytest.raises(
        UnsafePathError,
        match=r"'%252e%252e/x' has a '\.\.' segment once "
        r"decoded \('\.\./x'\)",
    ):
        resolve_in_workspace(workspace, "%252e%252e/x")


def test_a_symlink_out_of_the_workspace_is_refused(workspace: Path) -> None:
    (workspace / "escape.txt").symlink_to(workspace.parent / CANARY)
    with pytest.raises(UnsafePathError, match="leads outside the project workspace"):
        resolve_in_workspace(workspace, "escape.txt")


def test_a_symlinked_directory_out_of_the_workspace_is_refused(
    workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (workspace / "door").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="leads outside"):
        resolve_in_workspace(workspace, "door/secret.txt")


def test_a_symlink_inside_the_workspace_is_followed(workspace: Path) -> None:
    (workspace / "alias.py").symlink_to(workspace / "app.py")
    assert resolve_in_workspace(workspace, "alias.py") == (workspace / "app.py").resolve()


def test_a_symlink_loop_is_refused(workspace: Path) -> None:
    (workspace / "loop").symlink_to(workspace / "loop")
    with pytest.raises(UnsafePathError):
        resolve_in_workspace(workspace, "loop/x")


def test_a_workspace_reached_through_a_symlink_still_works(
    workspace: Path, tmp_path: Path
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(workspace, target_is_directory=True)
    assert resolve_in_workspace(alias, "app.py") == (workspace / "app.py").resolve()
    with pytest.raises(UnsafePathError):
        resolve_in_workspace(alias, f"../{CANARY}")


def test_listing_is_sorted_and_has_regular_files_only(workspace: Path) -> None:
    (workspace / ".codex").mkdir()
    (workspace / ".codex" / "result.json").write_text("{}")
    (workspace / "tests" / "test_cli.py").write_text("x" * 7)
    os.mkfifo(workspace / "pipe")
    assert list_workspace(workspace) == [
        FileEntry(".codex/result.json", 2),
        FileEntry("app.py", len("print('inside')\n")),
        FileEntry("tests/test_cli.py", 7),
    ]


def test_listing_never_follows_a_symlink_out(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (workspace / "escape.txt").symlink_to(workspace.parent / CANARY)
    (workspace / "door").symlink_to(outside, target_is_directory=True)
    (workspace / "inner").symlink_to(workspace / "tests", target_is_directory=True)
    (workspace / "dangling").symlink_to(workspace / "missing")
    (workspace / "alias.py").symlink_to(workspace / "app.py")
    paths = [entry.path for entry in list_workspace(workspace)]
    assert paths == ["alias.py", "app.py"]


def test_listing_a_missing_workspace_is_empty(tmp_path: Path) -> None:
    assert list_workspace(tmp_path / "nothing") == []


def test_project_ids_are_uuid4_hex() -> None:
    project_id = uuid.uuid4().hex
    assert validate_project_id(project_id) == project_id


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "..",
        "%2e%2e",
        "..%2f",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdef\n",
        "0123456789abcdef-0123456789abcde",
        "\u0660123456789abcdef0123456789abcde",
        str(uuid.UUID(int=1)),
    ],
)
def test_anything_else_is_not_a_project_id(raw: str) -> None:
    with pytest.raises(InvalidProjectIdError, match=r"^project id: .* is not a project id; "):
        validate_project_id(raw)

"""The one place that decides whether a client's path names something inside a workspace.

A path from a URL is checked in every form it could take on the way to the file system:
as sent, percent-decoded again and again (double encoding), and NFKC-normalised
(fullwidth dots and slashes). Every form must be a plain relative path: no `..`, no
leading `/`, no backslash, no control character, no drive letter, no `%u` escape, no
empty segment. Only then is it joined to the workspace, and its real path (symlinks
resolved) must still lie inside the workspace.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from codex_orchestrator.errors import quote

MAX_PATH_CHARS = 4096
MAX_DECODE_ROUNDS = 5
_PROJECT_ID = re.compile(r"[0-9a-f]{32}")
_PERCENT_U = re.compile(r"%u[0-9a-f]{4}", re.IGNORECASE)
_DRIVE = re.compile(r"[a-z]:", re.IGNORECASE)
_FIX = "ask for a path relative to the project workspace, e.g. 'app.py' or 'tests/test_cli.py'"


class UnsafePathError(ValueError):
    """A client path that could name something outside its workspace."""


class InvalidProjectIdError(ValueError):
    """A project id that is not the 32 lowercase hex digits the service hands out."""


@dataclass(frozen=True)
class FileEntry:
    """One regular file of a workspace: its POSIX path relative to it and its size."""

    path: str
    size: int


def validate_project_id(raw: str) -> str:
    """`raw` if it is a project id (`uuid4().hex`), else `InvalidProjectIdError`."""
    if _PROJECT_ID.fullmatch(raw) is None:
        raise InvalidProjectIdError(
            f"project id: {quote(raw)} is not a project id; use the 32-character lowercase "
            "hex id that POST /api/v1/projects returned"
        )
    return raw


def resolve_in_workspace(workspace: Path, raw: str) -> Path:
    """The real path inside `workspace` that the still percent-encoded `raw` names.

    Raises `UnsafePathError` when any form of `raw` is unsafe or when its real path
    leaves the workspace. A safe path need not exist (the caller answers 404).
    """
    if not raw:
        raise UnsafePathError(f"file path: {raw!r} is empty; {_FIX}")
    if len(raw) > MAX_PATH_CHARS:
        raise UnsafePathError(
            f"file path: {quote(raw)} is longer than {MAX_PATH_CHARS} characters; {_FIX}"
        )
    forms = _forms(raw)
    for form in forms:
        problem = _problem(form)
        if problem is not None:
            shown = "" if form == raw else f" once decoded ({quote(form)})"
            raise UnsafePathError(f"file path: {quote(raw)} {problem}{shown}; {_FIX}")
    relative = _percent_decode(raw, raw)
    root = workspace.resolve()
    try:
        target = root.joinpath(*relative.split("/")).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop, a name too long
        raise UnsafePathError(
            f"file path: {quote(raw)} cannot be resolved ({type(error).__name__}); {_FIX}"
        ) from None
    if target == root:
        raise UnsafePathError(f"file path: {quote(raw)} names the workspace itself; {_FIX}")
    if not target.is_relative_to(root):
        raise UnsafePathError(
            f"file path: {quote(raw)} leads outside the project workspace; {_FIX}"
        )
    return target


def list_workspace(workspace: Path) -> list[FileEntry]:
    """Every regular file under `workspace`, sorted by path.

    Symlinked directories are not entered; a symlink to a file is listed (with the
    target's size) only when its real path lies inside the workspace.
    """
    root = workspace.resolve()
    if not root.is_dir():
        return []
    entries: list[FileEntry] = []
    for folder, _dirs, names in os.walk(root, followlinks=False):
        for name in names:
            entry = _entry(root, Path(folder) / name)
            if entry is not None:
                entries.append(entry)
    return sorted(entries, key=lambda entry: entry.path)


def _entry(root: Path, path: Path) -> FileEntry | None:
    try:
        relative = path.relative_to(root).as_posix()
        relative.encode("utf-8")  # a name a client could never ask for is not listed
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve(strict=True)
            if not target.is_relative_to(root):
                return None
            info = target.stat()
    except (OSError, RuntimeError, UnicodeError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return FileEntry(path=relative, size=info.st_size)


def _forms(raw: str) -> list[str]:
    """`raw` and every text that decoding and normalising it, in any order, yields."""
    forms = [raw]
    frontier = [raw]
    for _ in range(MAX_DECODE_ROUNDS):
        found: list[str] = []
        for text in frontier:
            for form in (_percent_decode(raw, text), unicodedata.normalize("NFKC", text)):
                if form not in forms:
                    forms.append(form)
                    found.append(form)
        if not found:
            return forms
        frontier = found
    raise UnsafePathError(
        f"file path: {quote(raw)} still changes after {MAX_DECODE_ROUNDS} rounds of "
        f"percent-decoding; {_FIX}"
    )


def _percent_decode(raw: str, text: str) -> str:
    try:
        return urllib.parse.unquote_to_bytes(text).decode("utf-8")
    except UnicodeError:  # overlong forms such as %c0%ae, stray bytes, lone surrogates
        raise UnsafePathError(
            f"file path: {quote(raw)} does not decode as UTF-8; {_FIX}"
        ) from None


def _problem(text: str) -> str | None:
    """What makes one form of a path unsafe, or None."""
    if "\x00" in text:
        return "has a NUL byte"
    if any(unicodedata.category(char) == "Cc" for char in text):
        return "has a control character"
    if "\\" in text:
        return "has a backslash"
    if _PERCENT_U.search(text):
        return "has a %u escape"
    if text.startswith("/"):
        return "is absolute"
    if _DRIVE.match(text):
        return "starts with a drive letter"
    for segment in text.split("/"):
        if not segment:
            return "has an empty segment"
        # `..;x` is `..` to servers that take `;` as a parameter separator, `.. ` and
        # `...` are `..` to Windows: a segment of dots only is never a name here.
        core = segment.split(";", 1)[0].rstrip(" ")
        if core == "..":
            return "has a '..' segment"
        if len(core) > 1 and set(core) == {"."}:
            return "has a segment of dots only"
    return None

"""The one place that decides whether a client's path names something inside a workspace.

A path from a URL is checked in every form it could take on the way to the file system:
as sent, percent-decoded again and again (double encoding), and NFKC-normalised
(fullwidth dots and slashes). Every form must be a plain relative path: no `..` or `.`
segment, no leading `/`, no backslash, no control character, no drive letter, no `%u`
escape, no empty segment. Only then are its segments walked
(`workspace_files.open_file`, one descriptor at a time, so a swapped folder cannot lead
it out).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from pathlib import Path

from pytest_codex_orchestrator.errors import quote

MAX_PATH_CHARS = 4096
MAX_DECODE_ROUNDS = 5
FIX = "ask for a path relative to the project workspace, e.g. 'app.py' or 'tests/test_cli.py'"
_PROJECT_ID = re.compile(r"[0-9a-f]{32}")
_PERCENT_U = re.compile(r"%u[0-9a-f]{4}", re.IGNORECASE)
_DRIVE = re.compile(r"[a-z]:", re.IGNORECASE)


class UnsafePathError(ValueError):
    """A client path that could name something outside its workspace."""


class InvalidProjectIdError(ValueError):
    """A project id that is not the 32 lowercase hex digits the service hands out."""


def validate_project_id(raw: str) -> str:
    """`raw` if it is a project id (`uuid4().hex`), else `InvalidProjectIdError`."""
    if _PROJECT_ID.fullmatch(raw) is None:
        raise InvalidProjectIdError(
            f"project id: {quote(raw)} is not a project id; use the 32-character lowercase "
            "hex id that POST /api/v1/projects returned"
        )
    return raw


def client_path_parts(raw: str) -> list[str]:
    """The segments the still percent-encoded `raw` names, once every form of it passed.

    Raises `UnsafePathError` when any form of `raw` is unsafe. Touches no file: the
    caller walks the segments (see `workspace_files`).
    """
    if not raw:
        raise UnsafePathError(f"file path: {raw!r} is empty; {FIX}")
    if len(raw) > MAX_PATH_CHARS:
        raise UnsafePathError(
            f"file path: {quote(raw)} is longer than {MAX_PATH_CHARS} characters; {FIX}"
        )
    forms = _forms(raw)
    for form in forms:
        problem = _problem(form)
        if problem is not None:
            shown = "" if form == raw else f" once decoded ({quote(form)})"
            raise UnsafePathError(f"file path: {quote(raw)} {problem}{shown}; {FIX}")
    return _percent_decode(raw, raw).split("/")


def is_servable(relative: str) -> bool:
    """Whether a client can read the workspace file `relative` back: its percent-encoded
    form passes `client_path_parts` and names the same segments (a listing shows only
    such names)."""
    try:
        raw = urllib.parse.quote(relative, safe="/")
        return client_path_parts(raw) == relative.split("/")
    except (UnsafePathError, UnicodeError):
        return False


def resolve_in_workspace(workspace: Path, raw: str) -> Path:
    """The real path inside `workspace` that the still percent-encoded `raw` names.

    Raises `UnsafePathError` when any form of `raw` is unsafe or when its real path
    leaves the workspace. A safe path need not exist (the caller answers 404). This
    resolves by name, so its answer can be stale by the time a file is opened: the
    service opens files with `workspace_files.open_file`, which cannot be raced.
    """
    parts = client_path_parts(raw)
    root = workspace.resolve()
    try:
        target = root.joinpath(*parts).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop, a name too long
        raise UnsafePathError(
            f"file path: {quote(raw)} cannot be resolved ({type(error).__name__}); {FIX}"
        ) from None
    if target == root:
        raise UnsafePathError(f"file path: {quote(raw)} names the workspace itself; {FIX}")
    if not target.is_relative_to(root):
        raise UnsafePathError(
            f"file path: {quote(raw)} leads outside the project workspace; {FIX}"
        )
    return target


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
        f"percent-decoding; {FIX}"
    )


def _percent_decode(raw: str, text: str) -> str:
    try:
        return urllib.parse.unquote_to_bytes(text).decode("utf-8")
    except UnicodeError:  # overlong forms such as %c0%ae, stray bytes, lone surrogates
        raise UnsafePathError(f"file path: {quote(raw)} does not decode as UTF-8; {FIX}") from None


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
        if core == ".":  # `app.py/.` is not app.py: one name, one file (issue 18)
            return "has a '.' segment"
        if len(core) > 1 and set(core) == {"."}:
            return "has a segment of dots only"
    return None

"""Traversal payloads and the path policy of the orchestrator under test.

A payload of the shipped corpora is tagged `traversal: escapes` when its path, decoded
once as an HTTP framework hands it to the application (percent-decoding, `/` the only
separator), leads outside the workspace (above it, or absolute), and `traversal: inside`
when it names something odd that stays inside (`%252e%252e`, `..\\x`, `app.py%0a`, ...).

`--codex-traversal-policy` says what each must get:
- `strict` (default): the status the matrix gives (400 for every payload of the corpora);
- `resolve`: an orchestrator that resolves the path and checks it stays inside: an
  escape as the matrix says (400 in the file position), 400 or 404 for a name inside
  (not found there, or refused).
Whatever the policy, a 2xx is a failure for an escape and a finding with its own line
for a name inside (it was served as something; `app.py%0a` served as app.py), and
content from outside fails any case. No pytest import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from pytest_codex.cases.expectations import Mismatch

ESCAPES = "escapes"
INSIDE = "inside"
POLICIES: Mapping[str, Mapping[str, object]] = {
    # tag -> the status expected instead of the matrix's (None: as the matrix says)
    "strict": {ESCAPES: None, INSIDE: None},
    "resolve": {ESCAPES: None, INSIDE: [400, 404]},
}
FILE_POSITION = "/api/v1/{project_id}/files/"  # the shipped corpora's layout
ID_POSITION = "/api/v1/"
MAX_SEGMENTS = 10_000  # segments walked at most (a request line is far shorter)


def escapes_workspace(path: str) -> bool:
    """Whether a shipped payload leads outside the folder it is relative to: the file
    part of `/api/v1/{project_id}/files/<payload>` (the workspace), else the part after
    `/api/v1/` (the project id position), decoded once and resolved with `/` as the
    separator. Used to tag the shipped corpora (scripts/gen_traversal_corpus.py)."""
    for prefix in (FILE_POSITION, ID_POSITION):
        if path.startswith(prefix):
            tail = path[len(prefix) :]
            break
    else:
        tail = path
    decoded = unquote(tail, errors="replace")
    if decoded.startswith("/"):
        return True  # absolute: joined to the workspace it replaces it
    depth = 0
    for segment in decoded.split("/")[:MAX_SEGMENTS]:
        if segment == "..":
            depth -= 1
            if depth < 0:
                return True
        elif segment not in ("", "."):
            depth += 1
    return False


def tag(path: str) -> str:
    """`escapes` or `inside` for a shipped payload (see `escapes_workspace`)."""
    return ESCAPES if escapes_workspace(path) else INSIDE


def expected_status(tag: str | None, policy: str, written: object) -> object:
    """The status a payload tagged `tag` must get under `policy` (`written`: the
    matrix's)."""
    if tag is None:
        return written
    wanted = POLICIES[policy][tag]
    return written if wanted is None else wanted


def apply_policy(expect: Mapping[str, Any], tag: str | None, policy: str) -> dict[str, Any]:
    """`expect` with its status set by the policy for a payload tagged `tag`."""
    changed = dict(expect)
    if tag is not None and "status" in changed:
        changed["status"] = expected_status(tag, policy, changed["status"])
    return changed


def served(tag: str | None, status: int, path: str) -> Mismatch | None:
    """The line for a traversal payload that got a 2xx, or None."""
    if tag is None or not 200 <= status < 300:
        return None
    if tag == ESCAPES:
        return Mismatch(
            "escape served",
            "a refusal (the path leads outside the workspace)",
            f"{status}: the orchestrator answered {path!r} with content",
        )
    return Mismatch(
        "finding: odd name served",
        "400 or 404 (a name inside the workspace that no file has)",
        f"{status}: {path!r} was served as some file; the orchestrator rewrites the "
        "name (trims, decodes twice, or drops bytes) before it reads",
    )

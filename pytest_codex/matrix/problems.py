"""How a problem in a matrix file reads: the 1-based line of the YAML node it is at,
and a JSON Schema error as one line, `<file>:<line>: <json path>: <what>; <how to fix>`,
the fix pointing at docs/matrices.md (DOCS) where no shorter one fits. No pytest import
here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError

from pytest_codex import schemas


def _doc(name: str) -> str:
    """Where a user can read docs/<name>: the copy shipped in the wheel
    (pytest_codex/docs/), else the checkout's docs/ folder."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "docs" / name, package.parent / "docs" / name):
        if candidate.is_file():
            return str(candidate)
    return f"docs/{name} in the pytest-codex sources"


DOCS = f"see {_doc('matrices.md')}"


def line_of(root: yaml.Node | None, parts: list[Any]) -> int | None:
    """The 1-based line of the YAML node at `parts`, or of its nearest parent."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in parts:
        child = _child(node, part)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == part:
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def schema_message(path: Path, root: yaml.Node | None, error: ValidationError) -> str:
    parts = list(error.absolute_path)
    where = f"{path}:{line_of(root, parts)}: {schemas.json_path(parts)}"
    return f"{where}: {_shorten(error.message)}; {_fix(error)}"


def _shorten(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _fix(error: ValidationError) -> str:
    kind = error.validator
    last = error.absolute_path[-1] if error.absolute_path else None
    if kind == "additionalProperties":
        return f"remove it or fix its spelling ({DOCS})"
    if kind == "required":
        return f"add it ({DOCS})"
    if kind == "enum":
        values: Any = error.validator_value
        allowed = ", ".join(str(v) for v in values)
        return f"use one of: {allowed}"
    if (
        kind == "pattern"
        and len(error.absolute_path) >= 2
        and error.absolute_path[-2] == "headers"
    ):
        return "a header value is one line of Latin-1 text: no CR, LF or NUL"
    if kind == "pattern" and len(error.absolute_path) >= 1 and "headers" in error.absolute_path:
        return "a header name is one HTTP token: letters, digits and !#$%&'*+.^_`|~-"
    if kind == "pattern" and last == "name":
        return "use lower-case letters, digits, '.', '_' and '-'"
    if kind == "pattern":
        return f"match {error.validator_value!r} ({DOCS})"
    if kind == "not":
        return "give either `json` or `body`, not both"
    if kind == "oneOf" and not error.absolute_path:
        return "give either `cases:` (requests) or `load:` (a load run), not both"
    if kind in ("oneOf", "anyOf") and last == "status":
        return "give a status code (100-599) or a list of them"
    if kind == "anyOf" and last == "files":
        return "give `exact:` or `contains:` (a list of paths)"
    return DOCS

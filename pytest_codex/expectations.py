"""What a case expects of its response, checked; every difference is a `Mismatch`.

Expectations (docs/matrices.md): `status`, `json` (subset), `schema` (by name),
`files` (exact or contains), `non_empty`, `headers` (prefix), `result` (a file response
holding `.codex/result.json`: schema, subset, and equal to the copy on disk). `leaks()`
finds content from outside the workspace in any response. No pytest import here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex import schemas
from pytest_codex.rawhttp import Exchange

RESULT_FILE = ".codex/result.json"


@dataclass(frozen=True)
class Mismatch:
    """One expectation the response did not meet."""

    what: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.what}: expected {self.expected}, got {self.actual}"


@dataclass
class Checked:
    """The mismatches of one response, and notes on what could not be checked."""

    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, expected: object, actual: object) -> None:
        self.mismatches.append(Mismatch(what, _short(expected), _short(actual)))


def check(
    expect: Mapping[str, Any], exchange: Exchange, *, workspace_root: Path | None
) -> Checked:
    """Every expectation of `expect` against `exchange`."""
    checked = Checked()
    allowed = expect["status"] if isinstance(expect["status"], list) else [expect["status"]]
    if exchange.status not in allowed:
        checked.add("status", " or ".join(map(str, allowed)), exchange.status)
    for name, prefix in expect.get("headers", {}).items():
        value = exchange.header(name)
        if value is None or not value.lower().startswith(prefix.lower()):
            checked.add(f"header {name}", f"{prefix!r}...", repr(value))
    body_expectations = {"json", "schema", "files", "result"} & set(expect)
    if body_expectations or expect.get("non_empty"):
        _check_body(expect, exchange, checked, workspace_root)
    return checked


def _check_body(
    expect: Mapping[str, Any], exchange: Exchange, checked: Checked, workspace_root: Path | None
) -> None:
    try:
        body = exchange.json()
    except (ValueError, UnicodeDecodeError):
        body = None
        if {"json", "schema", "files", "result"} & set(expect):
            checked.add("body", "JSON", _short(exchange.body.decode("utf-8", "replace")))
            return
    if expect.get("non_empty") and not _non_empty(body, exchange.body):
        checked.add("body", "non-empty content", "empty")
    if "schema" in expect and body is not None:
        for problem in schemas.errors(expect["schema"], body):
            checked.add(f"schema {expect['schema']}", "valid", problem)
    if "json" in expect:
        for where, expected, actual in subset_differences(expect["json"], body):
            checked.add(f"json {where}", expected, actual)
    if "files" in expect:
        _check_files(expect["files"], body, checked)
    if "result" in expect:
        _check_result(expect["result"], body, checked, workspace_root)


def _non_empty(body: object, raw: bytes) -> bool:
    if isinstance(body, Mapping) and "content" in body:
        return bool(body["content"])
    return bool(raw.strip())


def subset_differences(
    expected: object, actual: object, where: str = "$"
) -> list[tuple[str, str, str]]:
    """Where `actual` does not hold `expected`: mappings by their listed keys (others
    ignored), lists item by item with equal length, scalars by equality and type."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [(where, "an object", _render(actual))]
        found: list[tuple[str, str, str]] = []
        for key, value in expected.items():
            if key not in actual:
                found.append((f"{where}.{key}", _render(value), "no such key"))
            else:
                found += subset_differences(value, actual[key], f"{where}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [(where, _render(expected), _render(actual))]
        found = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found += subset_differences(want, got, f"{where}[{index}]")
        return found
    if _same_scalar(expected, actual):
        return []
    return [(where, _render(expected), _render(actual))]


def _same_scalar(expected: object, actual: object) -> bool:
    """Equal and of the same kind: `1` is not `true`, `1` is `1.0`."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def _check_files(want: Mapping[str, Sequence[str]], body: object, checked: Checked) -> None:
    listed = body.get("files") if isinstance(body, Mapping) else None
    if not isinstance(listed, list):
        checked.add("files", "a listing with `files`", _short(body))
        return
    paths = sorted(str(entry.get("path")) for entry in listed if isinstance(entry, Mapping))
    if "exact" in want and paths != sorted(want["exact"]):
        missing = sorted(set(want["exact"]) - set(paths))
        extra = sorted(set(paths) - set(want["exact"]))
        checked.add(
            "files (exact)", sorted(want["exact"]), f"{paths} (missing {missing}, extra {extra})"
        )
    if "contains" in want:
        missing = sorted(set(want["contains"]) - set(paths))
        if missing:
            checked.add(
                "files (contains)", sorted(want["contains"]), f"{paths} (missing {missing})"
            )


def decoded_content(body: object) -> bytes | None:
    """The bytes of a file response (`content` in utf-8 or base64), or None."""
    if not isinstance(body, Mapping) or not isinstance(body.get("content"), str):
        return None
    content: str = body["content"]
    if body.get("encoding") == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            return None
    return content.encode("utf-8")


def _check_result(
    want: Mapping[str, Any], body: object, checked: Checked, workspace_root: Path | None
) -> None:
    content = decoded_content(body)
    if content is None:
        checked.add("result", f"a file response holding {RESULT_FILE}", _short(body))
        return
    try:
        result = json.loads(content)
    except ValueError:
        checked.add("result", "JSON", _short(content.decode("utf-8", "replace")))
        return
    for problem in schemas.errors("result", result):
        checked.add("result.json schema", "valid", problem)
    for where, expected, actual in subset_differences(want.get("json", {}), result):
        checked.add(f"result.json {where}", expected, actual)
    if not want.get("on_disk"):
        return
    assert isinstance(body, Mapping)
    project_id = str(body.get("project_id", ""))
    if workspace_root is None or not project_id:
        checked.notes.append(
            "result.json on disk: not compared (the workspace is not visible "
            "to the harness; it is with the bundled stack)"
        )
        return
    on_disk = workspace_root / project_id / RESULT_FILE
    try:
        disk = json.loads(on_disk.read_bytes())
    except (OSError, ValueError) as error:
        checked.add("result.json on disk", f"readable JSON at {on_disk}", type(error).__name__)
        return
    if disk != result:
        checked.add("result.json on disk", "the same document as the API's", _short(disk))


def leaks(exchange: Exchange, markers: Sequence[str]) -> list[str]:
    """The markers of outside content (canary, /etc/passwd) that the response holds."""
    haystacks = [exchange.body]
    try:
        content = decoded_content(exchange.json())
    except (ValueError, UnicodeDecodeError):
        content = None
    if content is not None:
        haystacks.append(content)
    return [m for m in markers if any(m.encode("utf-8") in h for h in haystacks)]


def _short(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _render(value: object) -> str:
    """A value as JSON text, shortened: `"completed"`, `42`, `null`."""
    return _short(json.dumps(value, ensure_ascii=False, default=str))

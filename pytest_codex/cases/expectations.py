"""What a case expects of its response, checked; every difference is a `Mismatch`.

Expectations (docs/matrices.md): `status`, `headers` (prefix), `json` (subset, with
`{$type: ...}` / `{$regex: ...}` matchers), `schema` (shipped by name or a file, resolved
at collection), `files` (exact or contains, on a bare or wrapped list of strings or
objects), `text` (contains / regex on the file content or the raw body), `non_empty`,
and `result` (`.codex/result.json` from a `{content}` file response or a raw body:
schema, subset, and equal to the copy on disk). `leaks()` finds content from outside the
workspace in any response. No pytest import here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex import schemas
from pytest_codex.cases.rawhttp import Exchange
from pytest_codex.schemas import SchemaRef, UnknownSchemaError

RESULT_FILE = ".codex/result.json"
JSON_EXPECTATIONS = frozenset({"json", "schema", "files", "result"})
DEFAULT_LIST_AT = "files"  # where a wrapped file listing keeps its list
DEFAULT_LIST_KEY = "path"  # the path of a listed object
TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
}


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
    expect: Mapping[str, Any],
    exchange: Exchange,
    *,
    workspace_root: Path | None,
    schema_refs: Mapping[str, SchemaRef] | None = None,
) -> Checked:
    """Every expectation of `expect` against `exchange`. `schema_refs` are the schemas the
    case names, resolved at collection; shipped names work without them."""
    checked = Checked()
    if "status" in expect:
        allowed = expect["status"] if isinstance(expect["status"], list) else [expect["status"]]
        if exchange.status not in allowed:
            checked.add("status", " or ".join(map(str, allowed)), exchange.status)
    for name, prefix in expect.get("headers", {}).items():
        value = exchange.header(name)
        if value is None or not value.lower().startswith(prefix.lower()):
            checked.add(f"header {name}", f"{prefix!r}...", repr(value))
    if JSON_EXPECTATIONS & set(expect) or "text" in expect or expect.get("non_empty"):
        _check_body(expect, exchange, checked, workspace_root, schema_refs or {})
    return checked


def _check_body(
    expect: Mapping[str, Any],
    exchange: Exchange,
    checked: Checked,
    workspace_root: Path | None,
    refs: Mapping[str, SchemaRef],
) -> None:
    try:
        body, is_json = exchange.json(), True
    except (ValueError, UnicodeDecodeError):
        body, is_json = None, False
    if expect.get("non_empty") and not _non_empty(body, exchange.body):
        checked.add("body", "non-empty content", "empty")
    if "text" in expect:
        _check_text(expect["text"], text_of(body, exchange.body), checked)
    if not JSON_EXPECTATIONS & set(expect):
        return
    if not is_json:
        checked.add("body", "JSON", _short(exchange.body.decode("utf-8", "replace")))
        return
    if "schema" in expect:
        ref = _schema(expect["schema"], refs, checked)
        for problem in ref.errors(body) if ref else []:
            checked.add(f"schema {expect['schema']}", "valid", problem)
    if "json" in expect:
        for where, expected, actual in subset_differences(expect["json"], body):
            checked.add(f"json {where}", expected, actual)
    if "files" in expect:
        _check_files(expect["files"], body, checked)
    if "result" in expect:
        _check_result(expect["result"], body, checked, workspace_root, refs)


def _schema(name: str, refs: Mapping[str, SchemaRef], checked: Checked) -> SchemaRef | None:
    if name in refs:
        return refs[name]
    try:
        return schemas.shipped(name)
    except UnknownSchemaError:
        checked.add(f"schema {name}", "a shipped schema or one resolved at collection", "none")
        return None


def _non_empty(body: object, raw: bytes) -> bool:
    if isinstance(body, Mapping) and "content" in body:
        return bool(body["content"])
    return bool(raw.strip())


def text_of(body: object, raw: bytes) -> str:
    """A file's text: the `content` of a JSON file response, else the raw body."""
    content = decoded_content(body)
    return (raw if content is None else content).decode("utf-8", "replace")


def _check_text(want: Mapping[str, Any], text: str, checked: Checked) -> None:
    for needle in want.get("contains", []):
        if needle not in text:
            checked.add("text (contains)", repr(needle), _short(text))
    for needle in want.get("not_contains", []):
        if needle in text:
            checked.add("text (not_contains)", f"no {needle!r}", _short(text))
    if "regex" in want and not _search(want["regex"], text):
        checked.add("text (regex)", f"a match for {want['regex']!r}", _short(text))


def _search(pattern: str, text: str) -> bool:
    """`re.search` with `^`/`$` at line ends; a pattern that does not compile fails."""
    try:
        return re.search(pattern, text, re.MULTILINE) is not None
    except re.error:
        return False


def subset_differences(
    expected: object, actual: object, where: str = "$"
) -> list[tuple[str, str, str]]:
    """Where `actual` does not hold `expected`: mappings by their listed keys (others
    ignored), lists item by item with equal length, `{$type: t}` / `{$regex: r}` by type
    or pattern, scalars by equality and type."""
    if is_matcher(expected):
        assert isinstance(expected, Mapping)
        return _matcher_differences(expected, actual, where)
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


def is_matcher(value: object) -> bool:
    """`{$type: ...}`, `{$regex: ...}` or both: a matcher, not a literal object."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(key in ("$type", "$regex") for key in value)
    )


def _matcher_differences(
    matcher: Mapping[str, Any], actual: object, where: str
) -> list[tuple[str, str, str]]:
    found = []
    if "$type" in matcher:
        kinds = matcher["$type"] if isinstance(matcher["$type"], list) else [matcher["$type"]]
        if not any(TYPE_CHECKS.get(kind, lambda _: False)(actual) for kind in kinds):
            found.append((where, f"a JSON {' or '.join(kinds)}", _render(actual)))
    if "$regex" in matcher:
        pattern = str(matcher["$regex"])
        if not isinstance(actual, str) or not _search(pattern, actual):
            found.append((where, f"text matching {pattern!r}", _render(actual)))
    return found


def _same_scalar(expected: object, actual: object) -> bool:
    """Equal and of the same kind: `1` is not `true`, `1` is `1.0`."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def lookup(document: object, dotted: str) -> object:
    """The value at a dotted path (`job.status`, `files.0.path`), or None."""
    for part in dotted.split("."):
        if isinstance(document, Mapping) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


def listed_paths(
    body: object, at: str | None = None, key: str | None = None
) -> tuple[list[str], int] | None:
    """The paths of a file listing and how many items had none, or None when there is no
    list: the list is at the dotted path `at`, else the body when it is a list, else its
    `files`; items are strings, or objects whose `key` (default `path`) is the path."""
    if at:
        listed = lookup(body, at)
    elif isinstance(body, list):
        listed = body
    else:
        listed = body.get(DEFAULT_LIST_AT) if isinstance(body, Mapping) else None
    if not isinstance(listed, list):
        return None
    field_name = key or DEFAULT_LIST_KEY
    paths: list[str] = []
    unreadable = 0
    for entry in listed:
        if isinstance(entry, str):
            paths.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get(field_name), str):
            paths.append(entry[field_name])
        else:
            unreadable += 1
    return sorted(paths), unreadable


def _check_files(want: Mapping[str, Any], body: object, checked: Checked) -> None:
    found = listed_paths(body, want.get("at"), want.get("key"))
    if found is None:
        where = f"`{want['at']}`" if want.get("at") else f"the body or its `{DEFAULT_LIST_AT}`"
        checked.add("files", f"a list at {where}", _short(body))
        return
    paths, unreadable = found
    if "exact" in want:
        missing = sorted(set(want["exact"]) - set(paths))
        extra = sorted(set(paths) - set(want["exact"]))
        if paths != sorted(want["exact"]) or unreadable:
            without = f", {unreadable} items without `{want.get('key', 'path')}`"
            checked.add(
                "files (exact)",
                sorted(want["exact"]),
                f"{paths} (missing {missing}, extra {extra}{without if unreadable else ''})",
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


def _result_of(body: object, checked: Checked) -> object:
    """result.json from a `{content}` file response, or the body itself; None (and a
    mismatch) when neither holds a JSON object."""
    content = decoded_content(body)
    if content is None:
        if isinstance(body, Mapping):
            return body
        checked.add("result", f"{RESULT_FILE} (an object, or a file response)", _short(body))
        return None
    try:
        result = json.loads(content)
    except ValueError:
        checked.add("result", "JSON", _short(content.decode("utf-8", "replace")))
        return None
    return result


def _check_result(
    want: Mapping[str, Any],
    body: object,
    checked: Checked,
    workspace_root: Path | None,
    refs: Mapping[str, SchemaRef],
) -> None:
    result = _result_of(body, checked)
    if result is None:
        return
    name = want.get("schema", "result")
    ref = _schema(name, refs, checked)
    for problem in ref.errors(result) if ref else []:
        checked.add(
            "result.json schema" + ("" if name == "result" else f" {name}"), "valid", problem
        )
    for where, expected, actual in subset_differences(want.get("json", {}), result):
        checked.add(f"result.json {where}", expected, actual)
    if want.get("on_disk"):
        _check_on_disk(want, body, result, checked, workspace_root)


def _check_on_disk(
    want: Mapping[str, Any],
    body: object,
    result: object,
    checked: Checked,
    workspace_root: Path | None,
) -> None:
    project = want.get("project")
    if project is None and isinstance(body, Mapping):
        project = body.get("project_id")
    if workspace_root is None:
        checked.notes.append(
            "result.json on disk: not compared (the workspace is not visible "
            "to the harness; it is with the bundled stack or --codex-workspace-root)"
        )
        return
    project = "" if project is None else str(project)
    if not project or project in (".", "..") or any(c in project for c in "/\\\0"):
        checked.add(
            "result.json on disk",
            "a project id (give `project:` in `result:`)",
            repr(project) if project else "none",
        )
        return
    on_disk = workspace_root / project / RESULT_FILE
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

"""Matrix files: YAML cases validated once against `schemas/matrix.schema.json`.

`load_matrix(path)` returns a `Matrix` of `Case`s in file order, or raises `MatrixError`
whose text is one line: `<file>:<line>: <json path>: <what>; <how to fix>`. Besides the
schema it checks what a schema cannot: unique case names, and that every `{variable}` a
case uses is saved by an earlier case. No pytest import here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError, best_match

from pytest_codex import schemas

MODES = ("mocked", "live")
VARIABLE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
DOCS = "see docs/matrices.md"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster


class MatrixError(Exception):
    """A matrix file that cannot be used; the text is one line naming file, place, fix."""


@dataclass(frozen=True)
class Case:
    """One request and what its response must show."""

    name: str
    file: Path
    line: int | None  # 1-based line of the case in its file
    modes: tuple[str, ...]
    request: Mapping[str, Any]
    expect: Mapping[str, Any]
    save: Mapping[str, str] = field(default_factory=dict)
    family: str | None = None

    def runs_in(self, mode: str) -> bool:
        return mode in self.modes

    @property
    def method(self) -> str:
        return str(self.request.get("method", "GET"))

    @property
    def path(self) -> str:
        return str(self.request["path"])


@dataclass(frozen=True)
class Matrix:
    name: str
    file: Path
    description: str
    cases: tuple[Case, ...]
    modes: tuple[str, ...] = MODES
    load: Mapping[str, Any] | None = None  # a load file has `load:` instead of `cases:`


def variables_in(value: object) -> set[str]:
    """The `{name}` variables a YAML value refers to (in strings, keys and values)."""
    if isinstance(value, str):
        return {m.group(1) for m in VARIABLE.finditer(value) if m.group(1)}
    if isinstance(value, Mapping):
        found: set[str] = set()
        for key, item in value.items():
            found |= variables_in(key) | variables_in(item)
        return found
    if isinstance(value, list):
        return set().union(*(variables_in(item) for item in value)) if value else set()
    return set()


def load_matrix(path: Path) -> Matrix:
    """Parse and validate one matrix file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MatrixError(f"{path}: cannot be read ({error}); give a UTF-8 YAML file") from None
    try:
        root = yaml.compose(text, Loader=LOADER)
        document = yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise MatrixError(f"{where}: YAML syntax: {problem}; fix the syntax there") from None
    if document is None:
        raise MatrixError(f"{path}: the file is empty; give `name:` and `cases:` ({DOCS})")
    problem = best_match(schemas.validator("matrix").iter_errors(document))
    if problem is not None:
        raise MatrixError(_schema_message(path, root, problem)) from None
    return _build(path, root, document)


def _build(path: Path, root: yaml.Node | None, document: dict[str, Any]) -> Matrix:
    file_modes = tuple(document.get("modes", MODES))
    cases: list[Case] = []
    saved: set[str] = set()
    for index, raw in enumerate(document.get("cases", [])):
        place = f"{path}:{_line(root, ['cases', index])}: $.cases[{index}]"
        name = raw["name"]
        if any(case.name == name for case in cases):
            raise MatrixError(f"{place}.name: {name!r} is used twice; give each case its own name")
        missing = sorted(
            variables_in({"request": raw["request"], "expect": raw["expect"]}) - saved
        )
        if missing:
            raise MatrixError(
                f"{place}: uses {{{missing[0]}}} which no earlier case saves; "
                f"add `save: {{{missing[0]}: <json path>}}` to an earlier case"
            )
        saved |= set(raw.get("save", {}))
        cases.append(
            Case(
                name=name,
                file=path,
                line=_line(root, ["cases", index]),
                modes=tuple(raw.get("modes", file_modes)),
                request=raw["request"],
                expect=raw["expect"],
                save=raw.get("save", {}),
                family=raw.get("family"),
            )
        )
    return Matrix(
        name=document["name"],
        file=path,
        description=document.get("description", ""),
        cases=tuple(cases),
        modes=file_modes,
        load=document.get("load"),
    )


def _line(root: yaml.Node | None, parts: list[Any]) -> int | None:
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


def _schema_message(path: Path, root: yaml.Node | None, error: ValidationError) -> str:
    parts = list(error.absolute_path)
    where = f"{path}:{_line(root, parts)}: {schemas.json_path(parts)}"
    return f"{where}: {_shorten(error.message)}; {_fix(error)}"


def _shorten(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _fix(error: ValidationError) -> str:
    kind = error.validator
    if kind == "additionalProperties":
        return f"remove it or fix its spelling ({DOCS})"
    if kind == "required":
        return f"add it ({DOCS})"
    if kind == "enum":
        values: Any = error.validator_value
        allowed = ", ".join(str(v) for v in values)
        return f"use one of: {allowed}"
    if kind == "pattern" and error.absolute_path and error.absolute_path[-1] == "name":
        return "use lower-case letters, digits, '.', '_' and '-'"
    if kind == "pattern":
        return f"match {error.validator_value!r} ({DOCS})"
    if kind == "not":
        return "give either `json` or `body`, not both"
    if kind == "oneOf" and not error.absolute_path:
        return "give either `cases:` (requests) or `load:` (a load run), not both"
    if kind in ("oneOf", "anyOf") and error.absolute_path and error.absolute_path[-1] == "status":
        return "give a status code (100-599) or a list of them"
    return DOCS

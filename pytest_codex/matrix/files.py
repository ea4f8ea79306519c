"""Matrix files: YAML cases validated once against `schemas/matrix.schema.json`.

`load_matrix(path, root=...)` returns a `Matrix` of `Case`s in file order, or raises
`MatrixError` whose text is one line per problem, `<file>:<line>: <json path>: <what>;
<how to fix>` (every problem of the file, not only the first). Besides the schema it
checks what a schema cannot: duplicate mapping keys, alias expansion, nesting depth and
size (an alias bomb is refused before it is expanded), values that are not JSON (a YAML
`!!binary`), unique case names, that every `{variable}` a case uses is saved by an
earlier case, regular expressions, and the schema files a case names (resolved relative
to the matrix and checked as JSON Schemas). No pytest import here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError, best_match

from pytest_codex import schemas
from pytest_codex.bundle.names import matrix_key, matrix_root, safe_path
from pytest_codex.matrix.problems import DOCS, schema_message
from pytest_codex.matrix.problems import line_of as _line
from pytest_codex.matrix.schema_refs import schema_refs
from pytest_codex.matrix.yamlsafe import YamlProblem as _Problem
from pytest_codex.matrix.yamlsafe import YamlReadError, read_yaml
from pytest_codex.schemas import SchemaFileError, SchemaRef

MODES = ("mocked", "live")
VARIABLE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


MAX_MATRIX_BYTES = 8 * 1024 * 1024  # a larger matrix file is refused before parsing
MAX_PROBLEMS = 50  # problems listed per file; the rest are counted
__all__ = [
    "DOCS",
    "MAX_MATRIX_BYTES",
    "MODES",
    "VARIABLE",
    "Case",
    "Matrix",
    "MatrixError",
    "load_matrix",
    "matcher_problems",
    "matrix_key",
    "matrix_root",
    "regex_problem",
    "safe_path",
    "variables_in",
]
MATCHERS = ("$type", "$regex")
JSON_TYPES = ("string", "integer", "number", "boolean", "null", "object", "array")


class MatrixError(Exception):
    """A matrix file that cannot be used; one line per problem, naming file, place, fix."""


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
    traversal: str | None = None  # escapes | inside: see cases/traversal.py
    poll: Mapping[str, Any] | None = None  # repeat the request until `until` holds
    schemas: Mapping[str, SchemaRef] = field(default_factory=dict)  # by `schema:` value
    matrix_key: str = ""  # the matrix's sanitised path under its root (evidence folders)

    def runs_in(self, mode: str) -> bool:
        return mode in self.modes

    @property
    def method(self) -> str:
        return str(self.request.get("method", "GET"))

    @property
    def path(self) -> str:
        return str(self.request["path"])

    @property
    def evidence_file(self) -> str:
        """The bundle-relative file of this case's exchange: unique per matrix file path
        and case name, sanitised, never a name the bundle reserves."""
        key = self.matrix_key or matrix_key(self.file, None)
        return f"cases/{key}/{safe_path([self.name], '')}.case.json"


@dataclass(frozen=True)
class Matrix:
    name: str
    file: Path
    description: str
    cases: tuple[Case, ...]
    modes: tuple[str, ...] = MODES
    load: Mapping[str, Any] | None = None  # a load file has `load:` instead of `cases:`
    key: str = ""  # sanitised path under the matrix root (see `matrix_key`)


def variables_in(value: object) -> set[str]:
    """The `{name}` variables a YAML value refers to (in strings, keys and values)."""
    found: set[str] = set()
    for item in _walk(value):
        if isinstance(item, str):
            found |= {m.group(1) for m in VARIABLE.finditer(item) if m.group(1)}
    return found


def _walk(value: object) -> Iterator[object]:
    """Every value, key and item in `value`, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Mapping):
            for key, child in item.items():
                stack += (key, child)
        elif isinstance(item, list):
            stack += item


def load_matrix(
    path: Path, root: Path | None = None, schema_folders: Sequence[Path] = ()
) -> Matrix:
    """Parse and validate one matrix file. `root` is the `--codex-matrix` folder holding
    it (see `matrix_root`): evidence folders and schema copies are named under it. Schema
    files (and their `$ref`s) resolve inside the matrix's folder or `schema_folders` (the
    folder of `--codex-result-schema`), never above, never over the network."""
    document, node = _read(path)
    lines = [
        *(schema_message(path, node, error) for error in _schema_errors(document)),
    ]
    if not lines:
        matrix, problems = _build(path, node, document, root, schema_folders)
        lines = [f"{path}:{p.line}: {p.text}" for p in problems]
    if lines:
        if len(lines) > MAX_PROBLEMS:
            lines = [*lines[:MAX_PROBLEMS], f"{path}: ... and {len(lines) - MAX_PROBLEMS} more"]
        raise MatrixError("\n".join(lines))
    return matrix


def _read(path: Path) -> tuple[dict[str, Any], yaml.Node]:
    """The file's document and its node tree; MatrixError when it cannot be used."""
    try:
        document, node = read_yaml(path, MAX_MATRIX_BYTES)
    except YamlReadError as error:
        raise MatrixError(str(error)) from None
    if node is None:
        raise MatrixError(f"{path}: the file is empty; give `name:` and `cases:` ({DOCS})")
    if not isinstance(document, dict):
        raise MatrixError(
            f"{path}:1: $: the file is a YAML {type(document).__name__}, not a mapping; "
            f"give `name:` and `cases:` ({DOCS})"
        )
    return document, node


def _schema_errors(document: object) -> list[ValidationError]:
    found = sorted(
        schemas.validator("matrix").iter_errors(document),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    return [best_match([error]) or error for error in found[: MAX_PROBLEMS + 1]]


def _build(
    path: Path,
    root: yaml.Node,
    document: dict[str, Any],
    matrix_root: Path | None,
    schema_folders: Sequence[Path] = (),
) -> tuple[Matrix, list[_Problem]]:
    key = matrix_key(path, matrix_root)
    file_modes = tuple(document.get("modes", MODES))
    cases: list[Case] = []
    problems: list[_Problem] = []
    names: set[str] = set()
    saved: set[str] = set()
    resolved: dict[str, SchemaRef | SchemaFileError] = {}
    for index, raw in enumerate(document.get("cases", [])):
        line = _line(root, ["cases", index])
        problems += _cross_case_problems(raw, index, line, root, names, saved)
        poll = raw.get("poll")
        refs: dict[str, SchemaRef] = {}
        blocks = [(raw["expect"], ["cases", index, "expect"])]
        if poll is not None:
            blocks.append((poll["until"], ["cases", index, "poll", "until"]))
        for block, parts in blocks:
            problems += _check_expectations(block, parts, root)
            problems += schema_refs(
                block, parts, root, path, matrix_root, resolved, schema_folders, refs
            )
        cases.append(
            Case(
                name=raw["name"],
                file=path,
                line=line,
                modes=tuple(raw.get("modes", file_modes)),
                request=raw["request"],
                expect=raw["expect"],
                save=raw.get("save", {}),
                family=raw.get("family"),
                traversal=raw.get("traversal"),
                poll=poll,
                schemas=refs,
                matrix_key=key,
            )
        )
    if "load" in document:
        problems += _check_load(document["load"], root)
    matrix = Matrix(
        name=document["name"],
        file=path,
        description=document.get("description", ""),
        cases=tuple(cases),
        modes=file_modes,
        load=document.get("load"),
        key=key,
    )
    return matrix, problems


def _cross_case_problems(
    raw: Mapping[str, Any],
    index: int,
    line: int | None,
    root: yaml.Node,
    names: set[str],
    saved: set[str],
) -> list[_Problem]:
    """A case name used twice, a `{variable}` no earlier case saves; `names` and `saved`
    then take this case's name and saved values."""
    problems = []
    place = f"$.cases[{index}]"
    name = raw["name"]
    if name in names:
        problems.append(
            _Problem(
                _line(root, ["cases", index, "name"]),
                f"{place}.name: {name!r} is used twice; give each case its own name",
            )
        )
    names.add(name)
    missing = sorted(
        variables_in({"request": raw["request"], "expect": raw["expect"], "poll": raw.get("poll")})
        - saved
    )
    if missing:
        problems.append(
            _Problem(
                line,
                f"{place}: uses {{{missing[0]}}} which no earlier case saves; "
                f"add `save: {{{missing[0]}: <json path>}}` to an earlier case",
            )
        )
    saved |= set(raw.get("save", {}))
    return problems


def _check_expectations(
    block: Mapping[str, Any], parts: list[Any], root: yaml.Node
) -> list[_Problem]:
    """Regular expressions compile and `$type`/`$regex` matchers are well formed."""
    problems: list[_Problem] = []
    text = block.get("text")
    if isinstance(text, Mapping) and "regex" in text:
        problem = regex_problem(text["regex"])
        if problem:
            where = [*parts, "text", "regex"]
            problems.append(_Problem(_line(root, where), f"{schemas.json_path(where)}: {problem}"))
    subsets = [("json", [*parts, "json"])]
    if isinstance(block.get("result"), Mapping):
        subsets.append(("result", [*parts, "result", "json"]))
    for name, where in subsets:
        value = block.get(name)
        if name == "result" and isinstance(value, Mapping):
            value = value.get("json")
        if value is not None:
            problems += [
                _Problem(_line(root, p), f"{schemas.json_path(p)}: {what}")
                for p, what in matcher_problems(value, where)
            ]
    return problems


def regex_problem(pattern: object) -> str | None:
    """Why `pattern` is not a usable regular expression (after `{var}` filling), or None."""
    if not isinstance(pattern, str):
        return f"{pattern!r} is not text; give a regular expression in quotes"
    probe = VARIABLE.sub(lambda m: m.group(0)[0] if not m.group(1) else "x", pattern)
    try:
        re.compile(probe)
    except re.error as error:
        return f"{pattern!r} is not a regular expression ({error}); fix it"
    return None


def matcher_problems(value: object, parts: list[Any]) -> list[tuple[list[Any], str]]:
    """Malformed `{$type: ...}` / `{$regex: ...}` matchers in a `json:` subset."""
    found: list[tuple[list[Any], str]] = []
    stack: list[tuple[object, list[Any]]] = [(value, parts)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            special = [k for k in item if isinstance(k, str) and k in MATCHERS]
            if special and len(special) != len(item):
                found.append(
                    (where, f"mixes matchers {special} with other keys; a matcher stands alone")
                )
            if "$type" in special:
                kinds = item["$type"] if isinstance(item["$type"], list) else [item["$type"]]
                if not kinds or any(kind not in JSON_TYPES for kind in kinds):
                    found.append(
                        (
                            [*where, "$type"],
                            f"{item['$type']!r} is not a JSON type; use one of "
                            + ", ".join(JSON_TYPES),
                        )
                    )
            if "$regex" in special:
                problem = regex_problem(item["$regex"])
                if problem:
                    found.append(([*where, "$regex"], problem))
            if not special:
                stack += [(child, [*where, key]) for key, child in item.items()]
        elif isinstance(item, list):
            stack += [(child, [*where, index]) for index, child in enumerate(item)]
    return found


def _check_load(load: Mapping[str, Any], root: yaml.Node) -> list[_Problem]:
    problems = []
    for key in ("project", "read"):
        value = load.get(key)
        if isinstance(value, str) and "{id}" not in value:
            where = ["load", key]
            problems.append(
                _Problem(
                    _line(root, where),
                    f"{schemas.json_path(where)}: {value!r} has no {{id}}; put {{id}} where "
                    "the project id goes",
                )
            )
    return problems

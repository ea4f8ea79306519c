"""The JSON Schemas shipped with the harness, loaded by name (`result`, `project`, ...),
and the schema files a matrix names (`schema: schemas/project.json`, relative to it).

`errors(name, document)` gives every violation as one line, `<json path>: <message>`,
so that a caller can put them in a failure message or a report. `SchemaRef` is one schema
a case uses, shipped or from a file, resolved and checked once at collection
(`resolve()`); `SchemaRef.errors(document)` checks a document against it. No pytest import
here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from pytest_codex.bundle import reader

RESPONSE_SCHEMAS = ("project", "job", "files", "file", "error", "health", "result")
MAX_SCHEMA_BYTES = 1024 * 1024  # a schema file a matrix names may be this large at most
MAX_ERRORS = 50  # violations listed per document; the rest are counted
MAX_SCHEMA_FILES = 50  # files one schema may pull in through relative `$ref`s
MAX_SCHEMA_DEPTH = 64  # nesting of objects and arrays in a schema file


class UnknownSchemaError(KeyError):
    """A schema name that is not shipped with the harness."""


class SchemaFileError(ValueError):
    """A schema file a matrix names that cannot be used; the text says why and how to fix."""


def names() -> list[str]:
    """Every shipped schema name, e.g. `matrix`, `result`."""
    folder = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(".schema.json")
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    )


def source_sha256(ref: SchemaRef) -> str | None:
    """The sha256 of the schema's source bytes (the shipped file, or the file the matrix
    names), for the manifest: a run tells which schema it used by it; None when the file
    can no longer be read."""
    if ref.shipped:
        entry = resources.files(__name__) / f"{ref.ref}.schema.json"
        return hashlib.sha256(entry.read_bytes()).hexdigest() if entry.is_file() else None
    digest = hashlib.sha256()
    try:
        with Path(ref.source).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


@cache
def load(name: str) -> dict[str, Any]:
    """The schema called `name`, parsed."""
    entry = resources.files(__name__) / f"{name}.schema.json"
    if not entry.is_file():
        raise UnknownSchemaError(f"{name!r} is not a shipped schema; use one of {names()}")
    document: dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
    return document


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for shipped schema `name`; its local `$ref`s are inlined first (they
    cost half of a large matrix's validation time, looked up again for every case)."""
    return Draft202012Validator(inline_refs(load(name)))


def inline_refs(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every `{"$ref": "#/$defs/x", ...}` replaced by `{"allOf": [x],
    ...}` (x inlined the same way); the schema must not refer to itself."""
    definitions = document.get("$defs", {})
    done: dict[str, Any] = {}

    def expand(value: Any, depth: int) -> Any:
        if depth > 32:
            raise ValueError("inline_refs: the schema refers to itself; keep its $ref")
        if isinstance(value, list):
            return [expand(item, depth + 1) for item in value]
        if not isinstance(value, dict):
            return value
        out = {k: expand(v, depth + 1) for k, v in value.items() if k not in ("$ref", "$defs")}
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.removeprefix("#/$defs/")
            if key not in done:
                done[key] = expand(definitions[key], depth + 1)
            if not out:
                return done[key]
            out["allOf"] = [*out.get("allOf", []), done[key]]
        elif ref is not None:
            out["$ref"] = ref
        return out

    return expand(document, 0)  # type: ignore[no-any-return]


def json_path(parts: Any) -> str:
    """`$.cases[3].expect.status` from a jsonschema error path."""
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def errors(name: str, document: object) -> list[str]:
    """Every violation of schema `name` by `document`, one line each, in document order."""
    return _errors(validator(name), document)


def _errors(checker: Validator, document: Any) -> list[str]:
    try:
        found = sorted(checker.iter_errors(document), key=lambda e: list(map(str, e.path)))
    except (Unresolvable, SchemaError, RecursionError) as error:
        return [f"$: the schema cannot be applied ({type(error).__name__}: {error})"]
    lines = [f"{json_path(error.absolute_path)}: {error.message}" for error in found]
    if len(lines) > MAX_ERRORS:
        lines = [*lines[:MAX_ERRORS], f"... and {len(lines) - MAX_ERRORS} more"]
    return lines


@dataclass(frozen=True, eq=False)
class SchemaRef:
    """One schema a case names: shipped (`project`) or a file relative to the matrix."""

    ref: str  # as written in the matrix
    source: str  # `shipped` or the file's path as given on the command line / found
    document: dict[str, Any] = field(repr=False)
    bundle_file: str  # where a run that uses it keeps a copy, relative to the bundle
    checker: Validator = field(repr=False, compare=False)
    # the files its relative `$ref`s reach: (the $ref's path, the document)
    references: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    @property
    def shipped(self) -> bool:
        return self.source == "shipped"

    def errors(self, document: Any) -> list[str]:
        """Every violation of this schema by `document`, one line each."""
        return _errors(self.checker, document)


@cache
def shipped(name: str) -> SchemaRef:
    """The shipped schema `name` as a `SchemaRef` (UnknownSchemaError when there is none)."""
    return SchemaRef(
        ref=name,
        source="shipped",
        document=load(name),
        bundle_file=f"schemas/{name}.schema.json",
        checker=validator(name),
    )


def _read_json(ref: str, path: Path) -> Any:
    """A schema file's JSON; SchemaFileError (one line, naming the file) otherwise."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SchemaFileError(f"schema {ref!r}: {path} is not a file; name a JSON Schema file")
        if size > MAX_SCHEMA_BYTES:
            raise SchemaFileError(
                f"schema {ref!r}: {path} is {size} bytes, over the limit of "
                f"{MAX_SCHEMA_BYTES} (MAX_SCHEMA_BYTES); split it or trim it"
            )
        document = json.loads(path.read_bytes().decode("utf-8"))
        if reader.depth_over(document, MAX_SCHEMA_DEPTH):
            raise RecursionError
        return document
    except RecursionError:
        raise SchemaFileError(
            f"schema {ref!r}: {path} nests objects and arrays deeper than {MAX_SCHEMA_DEPTH} "
            "(MAX_SCHEMA_DEPTH); flatten it with $defs"
        ) from None
    except FileNotFoundError:
        raise SchemaFileError(
            f"schema {ref!r}: no shipped schema has that name ({', '.join(RESPONSE_SCHEMAS)}) "
            f"and there is no file {path}; fix the name or the path (relative to the matrix)"
        ) from None
    except OSError as error:
        raise SchemaFileError(
            f"schema {ref!r}: {path} cannot be read ({type(error).__name__}); "
            "check its permissions"
        ) from None
    except (UnicodeDecodeError, ValueError) as error:
        reason = " ".join(str(error).split())[:120]
        raise SchemaFileError(
            f"schema {ref!r}: {path} is not UTF-8 JSON ({reason}); fix the file"
        ) from None


def _local_refs(ref: str, path: Path, document: Any) -> list[str]:
    """The file parts of the relative `$ref`s in a schema (`common.json#/x` -> `common.json`);
    SchemaFileError for a `$ref` with a URI scheme (`https:`, `file:`): nothing is fetched."""
    found: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            target = item.get("$ref")
            if isinstance(target, str) and not target.startswith("#"):
                if ":" in target.split("#", 1)[0]:
                    raise SchemaFileError(
                        f"schema {ref!r}: {path}: $ref {target!r} names a URI; schema $refs "
                        "are files inside the matrix's folder, never fetched; copy it there"
                    )
                found.append(target.split("#", 1)[0])
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    return found


def confined(file: Path, folders: Sequence[Path]) -> bool:
    """Whether `file`, symlinks resolved, is in one of `folders` or below it."""
    real = Path(os.path.realpath(file))
    return any(real.is_relative_to(os.path.realpath(folder)) for folder in folders)


def _where(folders: Sequence[Path]) -> str:
    return " or ".join(str(folder) for folder in folders)


def _references(ref: str, path: Path, document: Any, folders: Sequence[Path]) -> dict[str, Any]:
    """Every file the schema's relative `$ref`s reach (relative to the schema file, at most
    MAX_SCHEMA_FILES), read now, so that validation never reads a file. Each must be
    inside one of `folders` (the matrix's folder, the folder of a schema file an option
    names)."""
    resources: dict[str, Any] = {}
    pending = [(name, name, path) for name in _local_refs(ref, path, document)]
    while pending:
        uri, name, referrer = pending.pop()
        if uri in resources:
            continue
        if len(resources) >= MAX_SCHEMA_FILES:
            raise SchemaFileError(
                f"schema {ref!r}: {path} reaches more than {MAX_SCHEMA_FILES} files through "
                "$ref (MAX_SCHEMA_FILES); merge some of them"
            )
        target = path.parent / uri
        if not confined(target, folders):
            raise SchemaFileError(
                f"schema {ref!r}: $ref {name!r} in {referrer} leaves {_where(folders)}; "
                "schema $refs resolve only inside the matrix's folder (or the folder of "
                "--codex-result-schema) and below; copy the file there"
            )
        if not target.is_file():
            raise SchemaFileError(
                f"schema {ref!r}: $ref {name!r} in {referrer} names {target}, which is not a "
                "file; fix the $ref (relative to the schema file)"
            )
        resources[uri] = _read_json(ref, target)
        base = uri.rsplit("/", 1)[0] + "/" if "/" in uri else ""
        pending += [
            (base + child, child, target) for child in _local_refs(ref, target, resources[uri])
        ]
    return resources


def _registry(references: dict[str, Any]) -> Registry[Any]:
    registry: Registry[Any] = Registry()
    return registry.with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT202012))
        for uri, contents in references.items()
    )


def from_file(ref: str, path: Path, bundle_file: str, folders: Sequence[Path] = ()) -> SchemaRef:
    """The JSON Schema in `path`, checked against its meta-schema, with the files its
    relative `$ref`s name; SchemaFileError (one line, naming the file) when one is
    missing, too large, too deep, not JSON or not a schema, or when it or a `$ref` is
    outside `folders` (default: the schema file's folder)."""
    folders = tuple(folders) or (path.parent,)
    if not confined(path, folders):
        raise SchemaFileError(
            f"schema {ref!r}: {path} is outside {_where(folders)}; schema files resolve only "
            "inside the matrix's folder (or the folder of --codex-result-schema) and below; "
            "move the schema there"
        )
    document = _read_json(ref, path)
    if not isinstance(document, dict | bool):
        raise SchemaFileError(
            f"schema {ref!r}: {path} holds a JSON {type(document).__name__}, not a schema "
            "object; give a JSON Schema object"
        )
    if isinstance(document, bool):
        document = {} if document else {"not": {}}
    references = _references(ref, path, document, folders)
    kind = validator_for(document, default=Draft202012Validator)
    try:
        kind.check_schema(document)
    except SchemaError as error:
        where = json_path(error.absolute_path)
        message = " ".join(error.message.split())[:160]
        raise SchemaFileError(
            f"schema {ref!r}: {path} is not a valid JSON Schema ({where}: {message}); fix it"
        ) from None
    return SchemaRef(
        ref=ref,
        source=str(path),
        document=document,
        bundle_file=bundle_file,
        checker=kind(document, registry=_registry(references)),
        references=tuple(sorted(references.items())),
    )

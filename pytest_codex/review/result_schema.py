"""The result.json checks of `codex-evidence verify`: each against the schema its bundle
names (or the shipped one), and bounded reads of a bundle's JSON files.

`result_checker(bundle, files, manifest)` returns a function giving the problems of one
result.json document (one line each), or None and why the bundle's schema cannot be used.
A schema's `$ref` outside itself is an error, never fetched. No pytest import here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable

from pytest_codex import schemas
from pytest_codex.bundle import reader

RESULT_SCHEMA = "schemas/result.schema.json"
MAX_JSON_BYTES = 16 * 1024 * 1024  # a case's evidence, a result.json, a schema


def read_json(bundle: Path, relative: str) -> tuple[Any, str | None]:
    """A bundle file's JSON, or None and the reason it cannot be read (bundle.reader)."""
    try:
        return reader.read_json(bundle, relative, MAX_JSON_BYTES), None
    except reader.BundleReadError as error:
        return None, str(error).partition(": ")[2]


def result_checker(
    bundle: Path, files: list[str], manifest: dict[str, Any] | None
) -> tuple[Callable[[object], list[str]] | None, list[str]]:
    """The function giving one result.json's problems, or None and why it cannot be had."""
    paths = _result_schema_paths(manifest)
    missing = [p for p in paths if p not in files]
    if missing:
        return None, [f"{missing[0]}: the manifest's result schema is missing"]
    if len(paths) > 1:  # several result schemas in one run: each file must meet one
        checkers = []
        for one in paths:
            checker, problems = _schema_checker(bundle, one)
            if checker is None:
                return None, problems
            checkers.append(checker)

        def any_of(document: object) -> list[str]:
            found = [checker(document) for checker in checkers]
            return [] if any(not problems for problems in found) else found[0]

        return any_of, []
    path = paths[0] if paths else RESULT_SCHEMA
    if path not in files:
        return lambda document: schemas.errors("result", document), []
    return _schema_checker(bundle, path)


def _result_schema_paths(manifest: dict[str, Any] | None) -> list[str]:
    """The result schemas the manifest names: a list of {name, path} (the first format)
    or a map of bundle file -> {role, ...} (what the runner writes)."""
    named = manifest.get("schemas") if manifest is not None else None
    if isinstance(named, list):
        return [
            str(entry.get("path"))
            for entry in named
            if isinstance(entry, dict) and entry.get("name") == "result"
        ][:1]
    if isinstance(named, dict):
        return sorted(
            str(file)
            for file, entry in named.items()
            if isinstance(entry, dict) and entry.get("role") == "result"
        )
    return []


def _schema_checker(
    bundle: Path, path: str
) -> tuple[Callable[[object], list[str]] | None, list[str]]:
    schema, error = read_json(bundle, path)
    if error is None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as invalid:
            error = f"not a JSON Schema ({invalid.message})"
    if error is not None:
        return None, [f"{path}: {error}"]
    # No registry entries: a $ref to anything outside the schema is an error, never fetched.
    validator = Draft202012Validator(schema, registry=Registry())

    def check(document: object) -> list[str]:
        try:
            found = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
        except Unresolvable as unresolvable:
            return [f"{path}: a $ref that cannot be resolved ({unresolvable})"]
        except RecursionError:
            return [f"{path}: its $refs loop (a $ref reaches itself); not a usable schema"]
        return [f"{schemas.json_path(e.absolute_path)}: {e.message}" for e in found]

    return check, []

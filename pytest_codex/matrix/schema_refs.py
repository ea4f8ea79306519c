"""The JSON Schemas a case's `expect:` and `poll.until:` blocks name (`schema:`,
`result.schema:`), resolved once at collection: a shipped schema by name, else a JSON
Schema file relative to the matrix file, inside its folder or one of the schema folders
(`--codex-result-schema`'s), each file read once per matrix. No pytest import here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pytest_codex import schemas
from pytest_codex.bundle.names import short_parts
from pytest_codex.matrix.problems import line_of
from pytest_codex.matrix.yamlsafe import YamlProblem
from pytest_codex.schemas import SchemaFileError, SchemaRef


def schema_refs(
    block: Mapping[str, Any],
    parts: list[Any],
    root: yaml.Node,
    path: Path,
    matrix_root: Path | None,
    resolved: dict[str, SchemaRef | SchemaFileError],
    schema_folders: Sequence[Path],
    refs: dict[str, SchemaRef],
) -> list[YamlProblem]:
    """Resolve the schemas an expect/until block names into `refs`; the ones that fail."""
    problems = []
    for ref_name, ref_parts in _schema_names(block, parts):
        ref = _resolve_schema(ref_name, path, matrix_root, resolved, schema_folders)
        if isinstance(ref, SchemaFileError):
            problems.append(
                YamlProblem(line_of(root, ref_parts), f"{schemas.json_path(ref_parts)}: {ref}")
            )
        else:
            refs[ref_name] = ref
    return problems


def _schema_names(block: Mapping[str, Any], parts: list[Any]) -> list[tuple[str, list[Any]]]:
    found = []
    if "schema" in block:
        found.append((block["schema"], [*parts, "schema"]))
    result = block.get("result")
    if isinstance(result, Mapping):
        found.append((result.get("schema", "result"), [*parts, "result", "schema"]))
    return found


def _resolve_schema(
    ref: str,
    matrix_file: Path,
    root: Path | None,
    resolved: dict[str, SchemaRef | SchemaFileError],
    schema_folders: Sequence[Path] = (),
) -> SchemaRef | SchemaFileError:
    """A shipped schema by name, else a JSON Schema file relative to the matrix file,
    inside its folder or one of `schema_folders`."""
    if ref in schemas.RESPONSE_SCHEMAS:
        return schemas.shipped(ref)
    file = Path(os.path.abspath(matrix_file.parent / ref))
    known = resolved.get(str(file))
    if known is not None:
        return known
    bundle_file = "schemas/" + short_parts(file, root, ".json", ".json")
    try:
        found: SchemaRef | SchemaFileError = schemas.from_file(
            ref, file, bundle_file, (matrix_file.parent, *schema_folders)
        )
    except SchemaFileError as error:
        found = error
    resolved[str(file)] = found
    return found

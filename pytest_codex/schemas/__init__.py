"""The JSON Schemas shipped with the harness, loaded by name (`result`, `project`, ...).

`errors(name, document)` gives every violation as one line, `<json path>: <message>`,
so that a caller can put them in a failure message or a report. No pytest import here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

RESPONSE_SCHEMAS = ("project", "job", "files", "file", "error", "health", "result")


class UnknownSchemaError(KeyError):
    """A schema name that is not shipped with the harness."""


def names() -> list[str]:
    """Every shipped schema name, e.g. `matrix`, `result`."""
    folder = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(".schema.json")
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    )


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
    return Draft202012Validator(load(name))


def json_path(parts: Any) -> str:
    """`$.cases[3].expect.status` from a jsonschema error path."""
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def errors(name: str, document: object) -> list[str]:
    """Every violation of schema `name` by `document`, one line each, in document order."""
    found = sorted(validator(name).iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [f"{json_path(error.absolute_path)}: {error.message}" for error in found]

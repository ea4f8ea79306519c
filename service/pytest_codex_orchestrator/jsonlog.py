"""One JSON object per log line on stdout, with secret values taken out first.

    {"ts": "...Z", "level": "info", "event": "request", "method": "GET", ...}

The message is the `event`; fields passed with `extra=` become keys of the line. Before
a record is formatted, the value (six characters or more) of every environment variable
named `OPENAI_*`, `*_KEY`, `*_TOKEN` or `*_SECRET` is replaced by `***` in its message,
its fields and its traceback, so no line can carry one, escaped or not.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from pytest_codex_orchestrator.clock import format_time

SECRET_NAME = re.compile(r"OPENAI_.*|.*_KEY|.*_TOKEN|.*_SECRET")
MIN_SECRET_CHARS = 6
MASK = "***"
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The values to hide, longest first (so a value inside another is not left over)."""
    values = {
        value
        for name, value in environ.items()
        if SECRET_NAME.fullmatch(name.upper()) and len(value) >= MIN_SECRET_CHARS
    }
    return sorted(values, key=lambda value: (-len(value), value))


class Redactor:
    """Replaces known secret values in text by `***`."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = sorted(set(values), key=lambda value: (-len(value), value))

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return text

    def value(self, item: Any) -> Any:
        """`item` with every string inside it redacted."""
        if isinstance(item, str):
            return self(item)
        if isinstance(item, Mapping):
            return {self(str(key)): self.value(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [self.value(inner) for inner in item]
        return item


class RedactionFilter(logging.Filter):
    """Redacts a record in place: message, `extra=` fields, traceback and stack."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        for key in fields(record):
            setattr(record, key, self.redactor.value(getattr(record, key)))
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "event", ...fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": format_time(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        for key in fields(record):
            line.setdefault(key, getattr(record, key))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def fields(record: logging.LogRecord) -> list[str]:
    """The names a caller added with `extra=`."""
    return [key for key in vars(record) if key not in _RECORD_ATTRIBUTES]


def configure(
    environ: Mapping[str, str], stream: TextIO | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send every log record of the process, redacted, as JSON lines to `stream`
    (stdout by default). Replaces a handler an earlier call installed."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.set_name("codex-orchestrator-json")
    handler.addFilter(RedactionFilter(Redactor(secret_values(environ))))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == handler.get_name():
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler

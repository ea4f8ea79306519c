"""The one error a handler raises, and how a bad value is quoted in a message."""

from __future__ import annotations

from collections.abc import Mapping

QUOTE_LIMIT = 120


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, shortened to about `limit` characters for error messages."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 4]}...{text[-1]}"


class ApiError(Exception):
    """An answer other than success: an HTTP status and a `<where>: <what>; <fix>` detail."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})

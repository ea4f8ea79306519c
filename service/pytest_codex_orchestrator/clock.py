"""Timestamps as the API and result.json show them: ISO-8601, UTC, milliseconds, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now, e.g. `2024-05-01T12:00:00.123Z`."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def duration_ms(started_at: str, finished_at: str) -> int:
    """Whole milliseconds between two timestamps made by `utc_now` (never negative)."""
    delta = parse_time(finished_at) - parse_time(started_at)
    return max(0, int(delta.total_seconds() * 1000))

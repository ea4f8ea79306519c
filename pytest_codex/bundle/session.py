"""What happened to the session, for the bundle: how many cases were collected and
selected, what selected them, and how the session ended (completed, interrupted by Ctrl-C
or SIGTERM, stopped by a stack failure). The summary's first line is built from it.
No pytest import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

COMPLETED = "completed"
INTERRUPTED = "interrupted"
STACK_FAILURE = "stack_failure"
USAGE_ERROR = "usage_error"
INTERNAL_ERROR = "internal_error"
ENDS = (COMPLETED, INTERRUPTED, STACK_FAILURE, USAGE_ERROR, INTERNAL_ERROR)


@dataclass
class SessionRecord:
    """Filled by the plugin's hooks while the session runs; read when the bundle closes."""

    collected: int = 0
    selected: int = 0
    deselected: int = 0
    keyword: str | None = None
    markers: str | None = None
    deselect: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    end: str = COMPLETED
    reason: str | None = None
    exitstatus: int | None = None
    workers: int = 1
    signal: str | None = None  # the signal that interrupted the run, if one did

    def stop(self, end: str, reason: str) -> None:
        """The first way the session ended wins (a stack failure then pytest's exit)."""
        if self.end == COMPLETED:
            self.end, self.reason = end, reason

    def as_dict(self, run: int) -> dict[str, Any]:
        return {
            "end": self.end,
            "reason": self.reason,
            "exitstatus": self.exitstatus,
            "collected": self.collected,
            "selected": self.selected,
            "deselected": self.deselected,
            "selection": {
                "keyword": self.keyword,
                "markers": self.markers,
                "deselect": list(self.deselect),
                "args": list(self.args),
            },
            "run": run,
            "workers": self.workers,
        }


def verdict_line(mode: str, session: Mapping[str, Any], totals: Mapping[str, int]) -> str:
    """The summary's first line: how the run ended and what it found, e.g.
    `pytest-codex mocked run: COMPLETED, 284 passed, 2 failed (286 of 286 selected)`."""
    end = str(session.get("end", COMPLETED))
    head = end.replace("_", " ").upper()
    if session.get("reason") and end != COMPLETED:
        head += f" ({_one_line(str(session['reason']))})"
    counts = ", ".join(f"{totals.get(k, 0)} {k}" for k in ("passed", "failed", "error", "skipped"))
    selected = int(session.get("selected", 0))
    collected = int(session.get("collected", 0))
    run = int(session.get("run", 0))
    scope = f"{run} run of {selected} selected"
    if collected != selected:
        scope += f", {collected - selected} of {collected} deselected"
    line = f"pytest-codex {mode} run: {head}, {counts} ({scope})"
    if session.get("target_outages"):  # e.g. an orchestrator restart mid-run
        line += f"; {session['target_outages']}"
    return line


def _one_line(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."

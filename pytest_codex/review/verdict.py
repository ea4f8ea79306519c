"""The run's verdict: one function, `judge(manifest)`, that `codex-evidence verify` uses
to accept or refuse a run, and whose `Verdict` every other surface prints as it is: the
terminal summary, SUMMARY.md's first line, index.html's verdict box, `codex-evidence
summary`, and the JUnit report's `codex_verdict` property. None recomputes it.

The word says what happened, whatever a caller accepts: PASSED (a complete run, every
selected case passed), FAILED (a case failed or errored), PARTIAL (a deselection, node
ids, --lf, fewer cases run than selected, no session record), INTERRUPTED or STOPPED
EARLY (-x, --maxfail, --sw), STACK FAILURE, USAGE ERROR, INTERNAL ERROR, NO CASES RAN,
and DID NOT FINISH for a folder with no manifest (a killed run). The refusals are the
reasons verify exits 1, each with the flag that accepts it. No pytest import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_codex.bundle.record import COMPLETED, OUTCOMES, PARTIAL_ENDS

PASSED = "PASSED"
FAILED = "FAILED"
PARTIAL = "PARTIAL"
NO_CASES = "NO CASES RAN"
DID_NOT_FINISH = "DID NOT FINISH"
MAX_NAMES_SHOWN = 10  # failed cases named on a refusal line
MAX_REASON_CHARS = 120  # characters of a session's reason on the verdict line


@dataclass(frozen=True)
class Acceptance:
    """What a caller accepts besides a complete, all-passed run."""

    failures: bool = False  # --allow-failures
    partial: bool = False  # --allow-partial
    integrity_only: bool = False  # --integrity-only


@dataclass(frozen=True)
class Verdict:
    """What a run's record says: its word, counts and the reasons verify refuses it."""

    word: str
    counts: Mapping[str, int] = field(default_factory=dict)
    run: int = 0
    selected: int = 0
    collected: int = 0
    reason: str | None = None  # why the session ended as it did (SIGTERM, the stack error)
    refusals: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()
    outages: str | None = None  # the target stopped answering mid-run (session.target_outages)

    @property
    def kind(self) -> str:
        """passed, failed or other: the colour of the review page's verdict box."""
        return {PASSED: "passed", FAILED: "failed"}.get(self.word, "other")

    @property
    def ok(self) -> bool:
        return not self.refusals

    def headline(self) -> str:
        """`PARTIAL, 1 passed, 0 failed, 0 error, 0 skipped (1 run of 1 selected, 16 of
        17 deselected)`."""
        head = self.word if not self.reason else f"{self.word} ({_one_line(self.reason)})"
        if self.word == DID_NOT_FINISH:
            return head
        counts = ", ".join(f"{self.counts.get(k, 0)} {k}" for k in OUTCOMES)
        scope = f"{self.run} run of {self.selected} selected"
        if self.collected != self.selected:
            scope += f", {self.collected - self.selected} of {self.collected} deselected"
        line = f"{head}, {counts} ({scope})"
        return f"{line}; {self.outages}" if self.outages else line

    def line(self, mode: str) -> str:
        return f"pytest-codex {mode} run: {self.headline()}"


def did_not_finish(what: str) -> Verdict:
    """The verdict on a folder the run never closed (no manifest.json: a killed run)."""
    return Verdict(
        DID_NOT_FINISH,
        reason=what,
        refusals=(f"did not finish: {what} (only --integrity-only ignores it)",),
    )


def judge(manifest: Mapping[str, Any], accept: Acceptance = Acceptance()) -> Verdict:
    """The verdict on a manifest whose shape verify has checked (cases, totals)."""
    cases = [c for c in manifest.get("cases") or [] if isinstance(c, Mapping)]
    totals = manifest.get("totals") or {}
    counts = {name: int(totals.get(name, 0) or 0) for name in OUTCOMES}
    raw = manifest.get("session")
    session: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    refusals: list[str] = []
    accepted: list[str] = []

    def judge_one(line: str, accepting: bool, flag: str | None) -> None:
        if accepting:
            accepted.append(f"{line} ({flag})")
        elif flag is None:
            refusals.append(f"{line} (only --integrity-only ignores it)")
        else:
            refusals.append(f"{line} (give {flag} to accept)")

    failing = _failures(cases, counts)
    if failing:
        judge_one(failing, accept.failures, "--allow-failures")
    if not cases:
        judge_one("empty run: no case ran", False, None)
    end = str(session.get("end") or COMPLETED)
    reason = session.get("reason")
    partial = _partial(manifest, session)
    for line in partial:
        judge_one(line, accept.partial, "--allow-partial")
    if session and end != COMPLETED and end not in PARTIAL_ENDS:
        judge_one(f"session ended in {end}" + (f" ({reason})" if reason else ""), False, None)
    ran = sum(c.get("role") != "prerequisite" for c in cases)
    if session and end != COMPLETED:
        word = end.replace("_", " ").upper()
    elif failing:
        word = FAILED
    elif not cases:
        word = NO_CASES
    elif partial:
        word = PARTIAL
    else:
        word = PASSED
    return Verdict(
        word,
        counts,
        run=int(session.get("run", ran)),
        selected=int(session.get("selected", ran)),
        collected=int(session.get("collected", session.get("selected", ran))),
        reason=str(reason) if reason and end != COMPLETED else None,
        refusals=tuple(refusals),
        accepted=tuple(accepted),
        outages=str(session["target_outages"]) if session.get("target_outages") else None,
    )


def _failures(cases: list[Mapping[str, Any]], counts: Mapping[str, int]) -> str | None:
    bad = [
        f"{c.get('file')}::{c.get('name')}"
        for c in cases
        if c.get("outcome") in ("failed", "error")
    ]
    if not (counts["failed"] or counts["error"] or bad):
        return None
    more = f" (+{len(bad) - MAX_NAMES_SHOWN} more)" if len(bad) > MAX_NAMES_SHOWN else ""
    return (
        f"{counts['failed']} failed, {counts['error']} error: "
        + ", ".join(bad[:MAX_NAMES_SHOWN])
        + more
    )


def _partial(manifest: Mapping[str, Any], session: Mapping[str, Any]) -> list[str]:
    """Why the run covers less than its matrices: each line a reason to refuse it."""
    if not session:
        return [f"no session record (format {manifest.get('format', 1)}): the run may be partial"]
    end, run, selected = session.get("end"), session.get("run", 0), session.get("selected", 0)
    collected = session.get("collected", selected)
    reason = f" ({session['reason']})" if session.get("reason") else ""
    lines = []
    if end in PARTIAL_ENDS:
        lines.append(f"{str(end).replace('_', ' ')}{reason} after {run} of {selected} selected")
    elif end == COMPLETED and run < selected:
        lines.append(f"ran {run} of {selected} selected")
    selection = session.get("selection")
    chosen = selection if isinstance(selection, Mapping) else {}
    if selected < collected:
        lines.append(f"deselection: {selected} of {collected} selected{_by(chosen)}")
    node_ids = [a for a in chosen.get("args") or [] if isinstance(a, str) and "::" in a]
    if node_ids:
        lines.append(f"node ids selected the cases: {', '.join(node_ids[:MAX_NAMES_SHOWN])}")
    if chosen.get("last_failed"):
        lines.append("--lf ran only the cases that failed last time")
    return lines


def _by(selection: Mapping[str, Any]) -> str:
    parts = [
        f"{flag} {selection[key]!r}"
        for flag, key in (("-k", "keyword"), ("-m", "markers"))
        if selection.get(key)
    ]
    deselect = selection.get("deselect")
    if isinstance(deselect, list) and deselect:
        parts.append(f"--deselect x{len(deselect)}")
    if selection.get("stepwise"):
        parts.append("--sw")
    return f" by {', '.join(parts)}" if parts else ""


def _one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."

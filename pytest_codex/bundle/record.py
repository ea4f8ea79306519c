"""The run's record: one typed object that every part of the plugin writes into while the
session runs (what was collected and selected, how the session ended, what the target
was, timings, rollback, load figures) and that the manifest's run facts are serialised
from. Also the record of one case's outcome (`CaseRecord`) and the one list of the ways
a session ends (`ENDS`). No pytest import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_codex.review.verdict import Verdict

# How a session ends: the one list (verify, signing and the plugin import it).
COMPLETED = "completed"
INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM, pytest.exit
STOPPED_EARLY = "stopped_early"  # -x / --maxfail / --sw stopped it after a failure
STACK_FAILURE = "stack_failure"
USAGE_ERROR = "usage_error"
INTERNAL_ERROR = "internal_error"
ENDS = (COMPLETED, INTERRUPTED, STOPPED_EARLY, STACK_FAILURE, USAGE_ERROR, INTERNAL_ERROR)
PARTIAL_ENDS = frozenset({INTERRUPTED, STOPPED_EARLY})  # a partial run, --allow-partial
FAILING_ENDS = frozenset({STACK_FAILURE, USAGE_ERROR, INTERNAL_ERROR})  # never accepted
OUTCOMES = ("passed", "failed", "error", "skipped")
ROLES = ("selected", "prerequisite")


@dataclass(frozen=True)
class CaseRecord:
    """One case's outcome as the manifest lists it, always with its duration. `role` is
    `selected` for a case pytest selected, `prerequisite` for one run first because a
    selected case needs a value it saves; `matrix` is the matrix file as the run names it."""

    name: str
    file: str
    outcome: str
    elapsed_ms: float
    matrix: str | None = None
    role: str = "selected"
    status: int | None = None
    evidence: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "matrix": self.matrix or self.file,
            "role": self.role,
            "outcome": self.outcome,
            "status": self.status,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "evidence": self.evidence,
            "message": self.message,
        }


@dataclass
class Selection:
    """What chose the session's cases (pytest's options as given)."""

    keyword: str | None = None
    markers: str | None = None
    deselect: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    last_failed: bool = False  # --lf
    failed_first: bool = False  # --ff
    stepwise: bool = False  # --sw
    maxfail: int = 0  # -x is 1

    @property
    def node_ids(self) -> list[str]:
        """The arguments that name single tests (`matrices/mocked.yaml::healthz`)."""
        return [arg for arg in self.args if "::" in arg]

    def as_dict(self) -> dict[str, Any]:
        return {
            "keyword": self.keyword,
            "markers": self.markers,
            "deselect": list(self.deselect),
            "args": list(self.args),
            "node_ids": self.node_ids,
            "last_failed": self.last_failed,
            "failed_first": self.failed_first,
            "stepwise": self.stepwise,
            "maxfail": self.maxfail,
        }


MAX_OUTAGES_KEPT = 100  # requests that met an outage, recorded one by one; later ones counted
SAME_OUTAGE_S = 1.0  # outages this close (their starts are whole seconds) are one


@dataclass
class OutageLog:
    """The requests that met an outage of the target, in order; `gone` once one outlasted
    the wait (later requests then fail at once instead of each waiting again, until the
    target answers). Under xdist each worker meets the same outage with its own request:
    `count` is the number of outages, their time spans merged where they overlap."""

    outages: list[dict[str, Any]] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # start, end (epoch s)
    gone: bool = False

    def add(self, outage: dict[str, Any]) -> None:
        start = datetime.fromisoformat(outage["started_at"]).timestamp()
        self.spans.append((start, start + float(outage["down_s"])))
        if len(self.outages) < MAX_OUTAGES_KEPT:
            self.outages.append(outage)

    def merge(self, outages: list[dict[str, Any]]) -> None:
        """Outages an xdist worker recorded."""
        for outage in outages:
            self.add(outage)

    @property
    def count(self) -> int:
        """How many times the target stopped answering: overlapping spans are one."""
        count, last_end = 0, float("-inf")
        for start, end in sorted(self.spans):
            if start > last_end + SAME_OUTAGE_S:
                count += 1
            last_end = max(last_end, end)
        return count

    def summary(self) -> str | None:
        """One line for the verdict: what happened to the target; None without outages."""
        if not self.count:
            return None
        back = [o for o in self.outages if o["came_back"]]
        longest = max((o["down_s"] for o in self.outages), default=0.0)
        text = (
            f"the target stopped answering {self.count} time(s) mid-run (longest {longest:.1f} s)"
        )
        text += "; it restarted" if back else "; it did not answer again"
        unknown = [o for o in self.outages if o["in_flight"] and not o["retried"]]
        if unknown:
            text += f"; {len(unknown)} request(s) in flight not retried ({unknown[0]['request']})"
        return text


@dataclass
class RunRecord:
    """Filled by the plugin's hooks and fixtures while the session runs; the bundle's
    manifest, the terminal summary and the review page are made from it when it closes."""

    # The session: what was collected and selected, and how it ended.
    collected: int = 0
    selected: int = 0
    deselected: int = 0
    selection: Selection = field(default_factory=Selection)
    end: str = COMPLETED
    reason: str | None = None
    exitstatus: int | None = None
    workers: int = 1
    signal: str | None = None  # the signal that interrupted the run, if one did
    # What the run found.
    bundle: Path | None = None
    stop_text: str | None = None  # a stack failure's full text, printed at the end
    target: dict[str, Any] = field(default_factory=dict)
    target_version: object = "unknown"
    docker_version: str = "not used"
    worker_versions: list[str] = field(default_factory=list)  # result.json worker_version
    timings: dict[str, float] = field(default_factory=dict)
    checks_not_run: list[str] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    model_preflight: int | None = None  # the model endpoint's status before any case
    outages: OutageLog = field(default_factory=OutageLog)  # the target's mid-run outages
    load: dict[str, dict[str, Any]] = field(default_factory=dict)
    leftovers_removed: object = None
    # matrix file as the run names it -> {sha256 of its bytes, cases}: what the run used
    matrices: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[CaseRecord] = field(default_factory=list)  # skipped before they ran
    # What the run's end printed and wrote.
    verdict: Verdict | None = None
    signed: bool = False
    archive: Path | None = None
    pruned: list[str] = field(default_factory=list)
    leak: str | None = None

    def stop(self, end: str, reason: str) -> None:
        """The first way the session ended wins (a stack failure then pytest's exit)."""
        if self.end == COMPLETED:
            self.end, self.reason = end, reason

    def count(self, collected: int, selected: int, deselected: int) -> None:
        """What one process collected (an xdist worker's counts are merged by max)."""
        self.collected = max(self.collected, collected)
        self.selected = max(self.selected, selected)
        self.deselected = max(self.deselected, deselected)

    def session(self, run: int) -> dict[str, Any]:
        """The manifest's `session` object; `run` is the selected cases recorded."""
        return {
            "end": self.end,
            "reason": self.reason,
            "exitstatus": self.exitstatus,
            "collected": self.collected,
            "selected": self.selected,
            "deselected": self.deselected,
            "selection": self.selection.as_dict(),
            "run": run,
            "workers": self.workers,
            **({"target_outages": self.outages.summary()} if self.outages.count else {}),
        }

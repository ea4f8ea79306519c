"""Rollback after a live run: recreate the orchestrator from the mocked stack alone
(USE_DUMMY_WORKER=true) and prove it with the smoke cases of `rollback.yaml`, writing
their evidence into the mocked bundle beside the live one. No pytest import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex import stack
from pytest_codex.evidence import EvidenceBundle
from pytest_codex.matrix import load_matrix
from pytest_codex.runner import CaseFailedError, MissingVariableError, RunContext, run_case

SMOKE_MATRIX = Path(__file__).with_name("rollback.yaml")


@dataclass
class RollbackReport:
    restarted: bool = False
    base_url: str | None = None
    seconds: float = 0.0
    cases: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return (
            self.restarted
            and self.error is None
            and bool(self.cases)
            and all(case["outcome"] == "passed" for case in self.cases)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "restarted": self.restarted,
            "base_url": self.base_url,
            "seconds": round(self.seconds, 3),
            "cases": self.cases,
            "error": self.error,
        }


def roll_back(
    live: stack.Compose,
    mocked_files: tuple[Path, ...],
    bundle: EvidenceBundle,
    *,
    workspace_root: Path,
    leak_markers: tuple[str, ...],
    startup_timeout: float,
    request_timeout: float,
) -> RollbackReport:
    """Recreate the orchestrator as in `mocked_files` and run the smoke cases."""
    report = RollbackReport()
    started = time.perf_counter()
    env = {**live.env, "USE_DUMMY_WORKER": "true"}
    mocked = stack.Compose(live.command, mocked_files, live.project, env)
    try:
        mocked.run("up", "-d", "--no-deps", "--force-recreate", "orchestrator")
        port = mocked.run("port", "orchestrator", str(stack.DEFAULT_PORT)).strip()
        base_url = f"http://127.0.0.1:{port.splitlines()[-1].rsplit(':', 1)[1]}"
        deadline = time.monotonic() + startup_timeout
        while not stack.probe(base_url):
            if time.monotonic() > deadline:
                raise stack.StackError(f"{base_url}/healthz did not answer after the restart")
            time.sleep(0.25)
    except (stack.StackError, IndexError) as error:
        report.error = str(error)
        report.seconds = time.perf_counter() - started
        return report
    report.restarted = True
    report.base_url = base_url
    context = RunContext(
        base_url=base_url,
        evidence=bundle,
        variables={},
        workspace_root=workspace_root,
        leak_markers=leak_markers,
        timeout=request_timeout,
        api_token=live.env.get("CODEX_API_TOKEN") or None,
    )
    for case in load_matrix(SMOKE_MATRIX).cases:
        entry: dict[str, Any]
        try:
            outcome = run_case(case, context)
            entry = {"name": case.name, "outcome": "passed", "status": outcome.status}
        except CaseFailedError as failure:
            entry = {
                "name": case.name,
                "outcome": "failed",
                "status": failure.outcome.status,
                "message": str(failure),
            }
        except MissingVariableError as error:
            entry = {"name": case.name, "outcome": "error", "status": None, "message": str(error)}
        bundle.record_case(
            case.name,
            SMOKE_MATRIX.name,
            entry["outcome"],
            entry["status"],
            0.0,
            None,
            entry.get("message"),
        )
        report.cases.append(entry)
    report.seconds = time.perf_counter() - started
    return report

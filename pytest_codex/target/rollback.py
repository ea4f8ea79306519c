"""Rollback after a live run: stop the live orchestrator (its container stays, startable
again), remove every worker of the run that still exists (recorded), start the
orchestrator from the mocked stack alone (USE_DUMMY_WORKER=true) as a project of its own
on a fresh port (`rollback_stack`), and prove it: the smoke cases of `rollback.yaml`
(evidence in the mocked bundle beside the live one), then what the new container is: no
Docker socket mounted, no OPENAI_* variable in its environment (names only, never
values), no worker container started by the smoke jobs and none of the run left, and the
live run's projects still readable.

The mocked stack's compose files are the live run's files minus its live overlays:
every file whose name has `live`, `hermetic` or `openai` as a word (compose.live.yaml,
docker-compose.live.yml, compose.hermetic.yaml, compose.openai.yaml). No pytest import here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex.bundle.record import CaseRecord
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.cases.runner import RunContext, run_outcome
from pytest_codex.config.settings import Target
from pytest_codex.matrix.files import load_matrix
from pytest_codex.target import compose as stack
from pytest_codex.target import docker, rollback_stack

SMOKE_MATRIX = Path(__file__).with_name("rollback.yaml")
LIVE_OVERLAY = re.compile(r"(^|[._-])(live|hermetic|openai)([._-]|$)", re.I)
LIVE_PROJECTS_CHECKED = 5  # live projects read back after the rollback, at most
DOCKER_TIMEOUT_S = 30.0


class RollbackFilesError(Exception):
    """No mocked stack can be derived from the given compose files."""


def mocked_compose_files(files: Sequence[Path]) -> tuple[Path, ...]:
    """The given compose files minus the live overlays (see the module's docstring)."""
    kept = tuple(path for path in files if not LIVE_OVERLAY.search(path.stem))
    if not kept:
        raise RollbackFilesError(
            "--codex-compose-file: every file given is a live overlay (its name has "
            f"'live', 'hermetic' or 'openai' as a word: {', '.join(p.name for p in files)}); give "
            "the base stack file too, or override the codex_rollback_compose_files fixture"
        )
    return kept


DEFAULT_TARGET = Target()  # the bundled orchestrator


@dataclass
class RollbackReport:
    restarted: bool = False
    base_url: str | None = None
    seconds: float = 0.0
    cases: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.restarted
            and self.error is None
            and bool(self.cases)
            and all(case["outcome"] == "passed" for case in self.cases)
            and bool(self.checks)
            and not self.problems
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "restarted": self.restarted,
            "base_url": self.base_url,
            "seconds": round(self.seconds, 3),
            "cases": self.cases,
            "checks": self.checks,
            "problems": self.problems,
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
    target: Target = DEFAULT_TARGET,
    run_started: float | None = None,
    keep: bool = False,
) -> RollbackReport:
    """Stop the live orchestrator (the target's compose service), clear the run's workers
    (from `run_started`, the run's own start, a Unix time), start the mocked one from
    `mocked_files` on its own project and port, wait for its readiness path, and run the
    smoke cases. The mocked stack is torn down at the end unless `keep`."""
    report = RollbackReport()
    mocked = rollback_stack.mocked_stack(live, mocked_files)
    try:
        _roll_back(
            report, live, mocked, bundle, workspace_root, leak_markers,
            (startup_timeout, request_timeout), target, run_started,
        )  # fmt: skip
    finally:
        if not keep:
            rollback_stack.down(mocked)
    return report


def _roll_back(
    report: RollbackReport,
    live: stack.Compose,
    mocked: stack.Compose,
    bundle: EvidenceBundle,
    workspace_root: Path,
    leak_markers: tuple[str, ...],
    timeouts: tuple[float, float],
    target: Target,
    run_started: float | None,
) -> None:
    # ~64 lines: the smoke loop stays inline here, where the run record's recording of
    # each smoke case is (one place that records a case outcome).
    service = target.service
    startup_timeout, request_timeout = timeouts
    started = time.perf_counter()
    # To the microsecond: the live run's last job may have created its worker within
    # this same second, which a whole-second `--since` would count as the rollback's.
    since = time.time()
    live_projects = stack.project_ids(workspace_root)[:LIVE_PROJECTS_CHECKED]
    try:
        _stop_live(report, live, service, run_started if run_started is not None else since)
        base_url = _start_mocked(mocked, target, startup_timeout)
    except (stack.StackError, IndexError) as error:
        report.error = str(error)
        report.seconds = time.perf_counter() - started
        return
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
        outcome, _ = run_outcome(case, context)
        bundle.record(
            CaseRecord(
                case.name,
                SMOKE_MATRIX.name,
                outcome.outcome,
                outcome.elapsed_ms,
                status=outcome.status,
                evidence=outcome.evidence,
                message=outcome.message,
            )
        )
        entry: dict[str, Any] = {
            "name": case.name,
            "outcome": outcome.outcome,
            "status": outcome.status,
        }
        if outcome.message is not None:
            entry["message"] = outcome.message
        report.cases.append(entry)
    _check_container(report, mocked, service)
    _check_no_workers(report, live.project, since)
    _check_live_projects(report, base_url, live_projects, context.api_token, request_timeout)
    report.seconds = time.perf_counter() - started


def _stop_live(report: RollbackReport, live: stack.Compose, service: str, since: float) -> None:
    """Stop (never remove) the live orchestrator, then remove the run's workers that
    still exist; both recorded in the checks."""
    running = live.running(service)
    if running:
        docker.docker("stop", "-t", "5", *running, timeout=DOCKER_TIMEOUT_S)
        report.checks["live_orchestrator"] = "stopped (kept: `docker start` brings it back)"
    else:
        report.checks["live_orchestrator"] = "not running when the rollback began"
    workers = rollback_stack.clear_live_workers(live.project, since)
    report.checks["live_workers"] = workers
    if workers["remaining"]:
        report.problems.append(f"live workers of the run remain: {workers['remaining']}")


def _start_mocked(mocked: stack.Compose, target: Target, timeout: float) -> str:
    """`up` the mocked orchestrator alone and wait for its readiness path; its URL."""
    mocked.run("up", "-d", "--no-deps", target.service)
    try:
        base_url = f"http://127.0.0.1:{mocked.published_port(target.service, target.port)}"
    except stack.StackError as error:
        raise stack.StackError(
            f"rollback: {error}; see the mocked stack's logs (compose -p {mocked.project} logs)"
        ) from None
    deadline = time.monotonic() + timeout
    while not stack.probe(base_url, path=target.health_path):
        if time.monotonic() > deadline:
            raise stack.StackError(
                f"rollback: {base_url}{target.health_path} did not answer within "
                f"{timeout:.0f} s; see the mocked stack's logs (compose -p {mocked.project} "
                "logs) and fix its files"
            )
        time.sleep(0.1)
    return base_url


def _docker(*argv: str) -> str:
    return docker.docker(*argv, timeout=DOCKER_TIMEOUT_S).stdout


def _check_container(report: RollbackReport, mocked: stack.Compose, service: str) -> None:
    """No Docker socket mounted and no OPENAI_* variable (names only) in the recreated
    orchestrator, as `docker inspect` sees it."""
    try:
        container = mocked.containers(service)[0]
        [info] = json.loads(_docker("inspect", container))
    except (stack.StackError, IndexError, ValueError) as error:
        report.problems.append(f"the recreated orchestrator cannot be inspected: {error}")
        return
    sockets = [
        str(mount.get("Destination"))
        for mount in info.get("Mounts") or []
        if str(mount.get("Source", "")).endswith("docker.sock")
        or str(mount.get("Destination", "")).endswith("docker.sock")
    ]
    names = sorted(
        entry.partition("=")[0]
        for entry in (info.get("Config") or {}).get("Env") or []
        if entry.startswith("OPENAI_")
    )
    report.checks["docker_socket_mounts"] = sockets
    report.checks["openai_variables"] = names  # names only: never a value
    if sockets:
        report.problems.append(f"the mocked orchestrator mounts the Docker socket at {sockets}")
    if names:
        report.problems.append(f"the mocked orchestrator's environment holds {names}")


def _check_no_workers(report: RollbackReport, run_id: str, since: float) -> None:
    """No worker container of this run was created since the rollback began, and none
    of the run exists at its end."""
    try:
        created = rollback_stack.workers_created(run_id, since)
    except stack.StackError as error:
        report.problems.append(f"docker events cannot be read: {error}")
        return
    report.checks["workers_started"] = len(created)
    if created:
        report.problems.append(f"the smoke jobs started {len(created)} worker container(s)")
    try:
        remaining = rollback_stack.run_workers(run_id)
    except stack.StackError as error:
        report.problems.append(f"the run's workers cannot be listed: {error}")
        return
    report.checks["workers_remaining"] = len(remaining)
    if remaining:
        report.problems.append(f"{len(remaining)} worker container(s) of the run remain")


def _check_live_projects(
    report: RollbackReport,
    base_url: str,
    project_ids: list[str],
    api_token: str | None,
    timeout: float,
) -> None:
    """The live run's projects answer their file listing after the rollback."""
    import httpx  # noqa: PLC0415 (only a live run's rollback pays for the import)

    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    unreadable: list[str] = []
    for project_id in project_ids:
        try:
            status = httpx.get(
                f"{base_url}/api/v1/{project_id}/files", headers=headers, timeout=timeout
            ).status_code
        except httpx.HTTPError as error:
            unreadable.append(f"{project_id} ({type(error).__name__})")
            continue
        if status != 200:
            unreadable.append(f"{project_id} ({status})")
    report.checks["live_projects_readable"] = f"{len(project_ids) - len(unreadable)}/" + str(
        len(project_ids)
    )
    if unreadable:
        report.problems.append(f"live projects not readable after the rollback: {unreadable}")

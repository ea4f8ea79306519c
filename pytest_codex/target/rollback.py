"""Rollback after a live run: recreate the orchestrator from the mocked stack alone
(USE_DUMMY_WORKER=true) and prove it: the smoke cases of `rollback.yaml` (evidence in
the mocked bundle beside the live one), then what the recreated container is: no Docker
socket mounted, no OPENAI_* variable in its environment (names only, never values), no
worker container started by the smoke jobs, and the live run's projects still readable.

The mocked stack's compose files are the live run's files minus its live overlays:
every file whose name has `live` or `hermetic` as a word (compose.live.yaml,
docker-compose.live.yml, compose.hermetic.yaml). No pytest import here.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.cases.runner import CaseFailedError, MissingVariableError, RunContext, run_case
from pytest_codex.config.settings import Target
from pytest_codex.matrix.files import load_matrix
from pytest_codex.target import compose as stack

SMOKE_MATRIX = Path(__file__).with_name("rollback.yaml")
LIVE_OVERLAY = re.compile(r"(^|[._-])(live|hermetic)([._-]|$)", re.I)
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
            f"'live' or 'hermetic' as a word: {', '.join(p.name for p in files)}); give "
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
) -> RollbackReport:
    """Recreate the orchestrator (the target's compose service and container port) as in
    `mocked_files`, wait for its readiness path, and run the smoke cases."""
    service, port, health_path = target.service, target.port, target.health_path
    report = RollbackReport()
    started = time.perf_counter()
    # To the microsecond: the live run's last job may have created its worker within
    # this same second, which a whole-second `--since` would count as the rollback's.
    since = time.time()
    live_projects = stack.project_ids(workspace_root)[:LIVE_PROJECTS_CHECKED]
    env = {**live.env, "USE_DUMMY_WORKER": "true"}
    mocked = stack.Compose(live.command, mocked_files, live.project, env)
    try:
        mocked.run("up", "-d", "--no-deps", "--force-recreate", service)
        published = mocked.run("port", service, str(port)).strip()
        base_url = f"http://127.0.0.1:{published.splitlines()[-1].rsplit(':', 1)[1]}"
        deadline = time.monotonic() + startup_timeout
        while not stack.probe(base_url, path=health_path):
            if time.monotonic() > deadline:
                raise stack.StackError(f"{base_url}{health_path} did not answer after the restart")
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
    _check_container(report, mocked, service)
    _check_no_workers(report, live.project, since)
    _check_live_projects(report, base_url, live_projects, context.api_token, request_timeout)
    report.seconds = time.perf_counter() - started
    return report


def _docker(*argv: str) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise stack.StackError(f"docker {argv[0]}: {stack.tail(done.stderr, 5)}")
    return done.stdout


def _check_container(report: RollbackReport, mocked: stack.Compose, service: str) -> None:
    """No Docker socket mounted and no OPENAI_* variable (names only) in the recreated
    orchestrator, as `docker inspect` sees it."""
    try:
        container = mocked.run("ps", "-q", service).split()[-1]
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
    """No worker container of this run was created since the rollback began."""
    try:
        created = _docker(
            "events",
            "--since",
            f"{since:.6f}",
            "--until",
            str(int(time.time()) + 1),
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--filter",
            "label=io.pytest-codex.role=worker",
            "--filter",
            f"label=io.pytest-codex.run={run_id}",
            "--format",
            "{{.ID}}",
        ).split()
    except stack.StackError as error:
        report.problems.append(f"docker events cannot be read: {error}")
        return
    report.checks["workers_started"] = len(created)
    if created:
        report.problems.append(f"the smoke jobs started {len(created)} worker container(s)")


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

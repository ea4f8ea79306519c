"""pytest-xdist: ONE target and ONE bundle for all workers.

The controller starts the target before the workers start (or checks the one at
`--codex-base-url`), creates the bundle, and hands both to every worker through
`workerinput`. Workers run their cases against it and write their case files into the
bundle; when a worker ends, its case records come back in `workeroutput` and the
controller merges them, tears the target down once and closes the bundle once.

Cases that share saved values need not land on one worker: a worker runs the cases whose
values a selected case needs first, as its prerequisites (see `items.prerequisites`),
so `--dist load` keeps every case's own verdict.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter import harness, startup
from pytest_codex.adapter.harness import Stack
from pytest_codex.adapter.stash import (
    LIVE_ENV_KEY,
    LIVE_TOKEN_KEY,
    REDACTOR_KEY,
    REPORT_KEY,
    SESSION_KEY,
    SETTINGS_KEY,
    SIGNING_KEY,
)
from pytest_codex.bundle.session import INTERNAL_ERROR, STACK_FAILURE
from pytest_codex.bundle.writer import EvidenceBundle, SecretLeakError
from pytest_codex.config.settings import Settings
from pytest_codex.secrets.redact import Redactor
from pytest_codex.target import compose as stack
from pytest_codex.target import leftovers
from pytest_codex.target.rollback import mocked_compose_files

SHARED = "codex_shared"


def is_controller(config: pytest.Config) -> bool:
    """Whether this process distributes the items to xdist workers (`-n N`, N > 0)."""
    if hasattr(config, "workerinput") or config.getoption("collectonly"):
        return False
    # The same test as xdist's, which registers its session only after our configure.
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def _shared(config: pytest.Config) -> dict[str, Any] | None:
    workerinput = getattr(config, "workerinput", None)
    if not isinstance(workerinput, dict):
        return None
    shared = workerinput.get(SHARED)
    return shared if isinstance(shared, dict) else None


def shared_token(config: pytest.Config) -> str | None:
    """On a worker: the live stack's API token the controller generated; None elsewhere."""
    shared = _shared(config)
    token = None if shared is None else shared.get("api_token")
    return token if isinstance(token, str) else None


def shared_stack(config: pytest.Config) -> Stack | None:
    """On a worker: the target the controller started; None elsewhere."""
    shared = _shared(config)
    if shared is None:
        return None
    root = shared.get("workspace_root")
    return Stack(
        base_url=shared["base_url"],
        workspace_root=None if root is None else Path(root),
        leak_markers=tuple(shared["leak_markers"]),
        api_token=shared.get("api_token"),
    )


def shared_bundle(config: pytest.Config, redactor: Redactor) -> EvidenceBundle | None:
    """On a worker: the controller's bundle, to write case files into; None elsewhere."""
    shared = _shared(config)
    if shared is None:
        return None
    settings = config.stash[SETTINGS_KEY]
    return EvidenceBundle.attach(
        Path(shared["bundle"]), settings.mode, redactor, run_id=shared["run_id"]
    )


def hand_over(config: pytest.Config, bundle: EvidenceBundle) -> None:
    """On a worker, when its bundle closes: send the case records, the schemas used and
    the load figures to the controller."""
    shared = _worker_output(config)
    shared["cases"] = bundle.cases
    shared["schemas"] = bundle.used_schemas
    shared["load"] = config.stash[REPORT_KEY].get("load", {})


def hand_over_session(config: pytest.Config) -> None:
    """On a worker, at its end (also when none of its items set up a fixture): what it
    collected and selected, and the cases it skipped before they ran."""
    if _shared(config) is None:
        return
    record = config.stash[SESSION_KEY]
    shared = _worker_output(config)
    shared |= {
        "collected": record.collected,
        "selected": record.selected,
        "deselected": record.deselected,
        "skipped": [
            [case.name, case.file.name, case.matrix_key, reason]
            for case, reason in config.stash[REPORT_KEY].pop("skipped_cases", [])
        ],
    }


def _worker_output(config: pytest.Config) -> dict[str, Any]:
    workeroutput: dict[str, Any] = getattr(config, "workeroutput", {})
    shared: dict[str, Any] = workeroutput.setdefault(SHARED, {})
    return shared


def rollback_files(settings: Settings) -> tuple[Path, ...]:
    """The mocked stack a live run rolls back to (as the codex_rollback_compose_files
    fixture derives it): the bundled mocked stack, or the given files minus the live
    overlays."""
    if settings.mode != "live":
        return ()
    if settings.compose_files is None:
        return harness.bundled_compose_files("mocked", settings.live_model)
    return mocked_compose_files(settings.compose_files)


@dataclass
class WorkerCost:
    """What `-n N` cost against what it saved, measured by the controller: the time from
    the workers' start (the target is ready) to the last case's report, against the
    cases' own time (setup, call and teardown, summed over every worker), which is about
    what one process would have taken to run them back to back."""

    workers: int = 0
    workers_started: float | None = None
    last_report: float | None = None
    case_s: float = 0.0

    def note(self) -> str | None:
        """One summary line when the workers took longer than the cases would have taken
        one after another (they cost more than they saved); None otherwise."""
        if self.workers < 2 or self.workers_started is None or self.last_report is None:
            return None
        workers_s = self.last_report - self.workers_started
        if workers_s <= self.case_s:
            return None
        return (
            f"pytest-codex: -n {self.workers}: the workers took {workers_s:.1f} s from their "
            f"start to the last case, the cases {self.case_s:.1f} s in all; on cases this "
            "fast the workers cost more than they save (run without -n)"
        )


class Controller:
    """The xdist controller's side: registered by the plugin when `-n N` is in force."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.exits = contextlib.ExitStack()
        self.bundle: EvidenceBundle | None = None
        self.stack: Stack | None = None
        self.started = time.perf_counter()
        self.workers = 0
        self.cost = WorkerCost()
        config.add_cleanup(self._cleanup)  # also when another plugin's hook fails first

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # tryfirst: before xdist's own sessionstart starts the workers.
        config = self.config
        settings = config.stash[SETTINGS_KEY]
        redactor = config.stash[REDACTOR_KEY]
        self.bundle = EvidenceBundle(settings.evidence_dir, settings.mode, redactor)
        report = config.stash[REPORT_KEY]
        report["bundle"] = self.bundle.path
        parts = None
        root: Path | None = None
        if settings.base_url is None:
            try:
                command = stack.detect_compose_command()
            except stack.StackError as error:
                self._stop(error)
            root = settings.target.workspace_root or Path(
                tempfile.mkdtemp(prefix="codex-workspaces-")
            )
        try:
            if root is not None:  # the bundled stack's files may fail (cache not writable)
                parts = startup.ComposeParts(
                    workspace_root=root,
                    command=command,
                    files=settings.compose_files
                    or harness.bundled_compose_files(settings.mode, settings.live_model),
                    project=leftovers.project_name(),
                    rollback_files=rollback_files(settings),
                    api_token=config.stash[LIVE_TOKEN_KEY],
                )
            self.stack = self.exits.enter_context(
                startup.target_session(
                    settings,
                    config.stash[LIVE_ENV_KEY],
                    self.bundle,
                    redactor,
                    report,
                    parts,
                    config.stash[SIGNING_KEY],
                )
            )
        except stack.StackError as error:
            self._stop(error)
        self.cost.workers_started = time.perf_counter()  # xdist starts them next

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.cost.workers += 1

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.cost.case_s += report.duration
        self.cost.last_report = time.perf_counter()

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        note = self.cost.note()
        if note:
            terminalreporter.write_line(note)

    def _stop(self, error: stack.StackError) -> None:
        # pytest does not call sessionfinish after a failed sessionstart: close here.
        text = str(error)
        self.config.stash[SESSION_KEY].stop(STACK_FAILURE, text.splitlines()[0])
        self.config.stash[REPORT_KEY]["stop"] = text
        self._close()
        pytest.exit(f"pytest-codex: the session stopped:\n{text}", returncode=1)

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        assert self.stack is not None
        assert self.bundle is not None
        root = self.stack.workspace_root
        node.workerinput[SHARED] = {
            "base_url": self.stack.base_url,
            "workspace_root": None if root is None else str(root),
            "leak_markers": list(self.stack.leak_markers),
            "bundle": str(self.bundle.path),
            "run_id": self.bundle.run_id,
            "api_token": self.stack.api_token,
        }

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        record = self.config.stash[SESSION_KEY]
        if error is not None:  # the worker died: what it ran last is not in the bundle
            record.stop(INTERNAL_ERROR, f"an xdist worker crashed: {str(error)[:200]}")
        output = getattr(node, "workeroutput", {}).get(SHARED)
        if not output or self.bundle is None:
            return
        self.workers += 1
        self.bundle.merge_cases(output.get("cases", []))
        for file, entry in output.get("schemas", {}).items():
            known = self.bundle.used_schemas.setdefault(file, entry)
            if entry.get("role") == "result":
                known["role"] = "result"
        for name, file, matrix, reason in output.get("skipped", []):
            self.bundle.record_case(name, file, "skipped", None, 0.0, None, reason, matrix=matrix)
        report = self.config.stash[REPORT_KEY]
        for name, figures in output.get("load", {}).items():
            report.setdefault("load", {})[name] = figures
        record.collected = max(record.collected, output.get("collected", 0))
        record.selected = max(record.selected, output.get("selected", 0))
        record.deselected = max(record.deselected, output.get("deselected", 0))

    @pytest.hookimpl
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        # The case a crashed worker was running: recorded as an error, never lost.
        if self.bundle is not None:
            path, _, name = crashitem.rpartition("::")
            self.bundle.record_case(
                name,
                Path(path).name,
                "error",
                None,
                0.0,
                None,
                f"{crashitem}: the xdist worker running it crashed",
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # The workers are down (their records merged) once the test loop ended.
        self.config.stash[SESSION_KEY].exitstatus = int(exitstatus)
        if not self._close():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _cleanup(self) -> None:
        self._close()

    def _close(self) -> bool:
        """Tear the target down and close the bundle once; False when that found a
        problem the run must fail on (a failed rollback, a secret in the bundle)."""
        if self.bundle is None or self.bundle.closed:
            return True
        report = self.config.stash[REPORT_KEY]
        fine = True
        try:
            self.exits.close()  # the target's teardown: snapshots, logs, rollback, down
        except (pytest.fail.Exception, stack.StackError) as error:
            report["stop"] = str(error)
            fine = False
        finally:
            record = self.config.stash[SESSION_KEY]
            record.workers = max(self.workers, 1)
            try:
                startup.close_bundle(self.config, self.bundle, self.started)
            except SecretLeakError as error:
                sys.stderr.write(f"pytest-codex: evidence: {error}\n")
                fine = False
        return fine

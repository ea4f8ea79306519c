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
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter import closing, harness, startup
from pytest_codex.adapter.harness import Stack
from pytest_codex.adapter.stash import (
    LIVE_ENV_KEY,
    LIVE_TOKEN_KEY,
    RECORD_KEY,
    REDACTOR_KEY,
    SETTINGS_KEY,
    SIGNING_KEY,
)
from pytest_codex.bundle.record import INTERNAL_ERROR, STACK_FAILURE, CaseRecord
from pytest_codex.bundle.writer import EvidenceBundle, SecretLeakError
from pytest_codex.config.settings import Settings
from pytest_codex.secrets.redact import Redactor
from pytest_codex.target import compose as stack
from pytest_codex.target import leftovers
from pytest_codex.target.rollback import mocked_compose_files

SHARED = "codex_shared"
CASES_ATTRIBUTE = "codex_cases"  # on a worker's test report: the case records it made
COUNTS_ATTRIBUTE = "codex_counts"  # and what the worker collected, selected, deselected
WORKER_BUNDLE_KEY = pytest.StashKey[EvidenceBundle]()


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
    bundle = EvidenceBundle.attach(
        Path(shared["bundle"]), settings.mode, redactor, run_id=shared["run_id"]
    )
    config.stash[WORKER_BUNDLE_KEY] = bundle
    return bundle


def hand_over(config: pytest.Config, bundle: EvidenceBundle) -> None:
    """On a worker, when its bundle closes: send the case records not yet sent, the
    schemas used and the load figures to the controller."""
    shared = _worker_output(config)
    shared["cases"] = bundle.hand_over()
    shared["schemas"] = bundle.used_schemas
    shared["load"] = config.stash[RECORD_KEY].load
    shared["outages"] = config.stash[RECORD_KEY].outages.outages


class WorkerRecords:
    """On a worker: each test's last report carries the case records its test made, so
    the controller holds every record handed back before a stop (SIGTERM, Ctrl-C)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        bundle = self.config.stash.get(WORKER_BUNDLE_KEY, None)
        if report.when == "teardown" and bundle is not None:
            # Plain attributes travel with the report (xdist serialises its __dict__).
            record = self.config.stash[RECORD_KEY]
            setattr(report, CASES_ATTRIBUTE, bundle.hand_over())
            setattr(
                report, COUNTS_ATTRIBUTE, [record.collected, record.selected, record.deselected]
            )
        return report


def hand_over_session(config: pytest.Config) -> None:
    """On a worker, at its end (also when none of its items set up a fixture): what it
    collected and selected, and the cases it skipped before they ran."""
    if _shared(config) is None:
        return
    record = config.stash[RECORD_KEY]
    shared = _worker_output(config)
    shared |= {
        "collected": record.collected,
        "selected": record.selected,
        "deselected": record.deselected,
        "skipped": [skipped.as_dict() for skipped in record.skipped],
        "matrices": record.matrices,
    }
    record.skipped.clear()


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
        record = config.stash[RECORD_KEY]
        record.bundle = self.bundle.path
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
                    record,
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
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        note = self.cost.note()
        if note:
            terminalreporter.write_line(note)

    def _stop(self, error: stack.StackError) -> None:
        # pytest does not call sessionfinish after a failed sessionstart: close here.
        text = str(error)
        record = self.config.stash[RECORD_KEY]
        record.stop(STACK_FAILURE, text.splitlines()[0])
        record.stop_text = text
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
        record = self.config.stash[RECORD_KEY]
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
        for skipped in output.get("skipped", []):
            self.bundle.record(CaseRecord(**skipped))
        record.load.update(output.get("load", {}))
        record.matrices.update(output.get("matrices", {}))
        record.outages.merge(output.get("outages", []))
        record.count(
            output.get("collected", 0), output.get("selected", 0), output.get("deselected", 0)
        )

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.cost.case_s += report.duration
        self.cost.last_report = time.perf_counter()
        # The case records a worker made for this test, handed back at once.
        if self.bundle is None or self.bundle.closed:
            return
        cases = getattr(report, CASES_ATTRIBUTE, None)
        if cases:
            self.bundle.merge_cases(list(cases))
        counts = getattr(report, COUNTS_ATTRIBUTE, None)
        if isinstance(counts, list) and len(counts) == 3:
            self.config.stash[RECORD_KEY].count(*(int(n) for n in counts))

    @pytest.hookimpl
    def pytest_handlecrashitem(self, crashitem: str, report: Any, sched: Any) -> None:
        # The case a crashed worker was running: recorded as an error, never lost.
        if self.bundle is not None:
            path, _, name = crashitem.rpartition("::")
            duration = float(getattr(report, "duration", 0.0) or 0.0) * 1000
            message = f"{crashitem}: the xdist worker running it crashed"
            self.bundle.record(
                CaseRecord(name, Path(path).name, "error", duration, message=message)
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # tryfirst: the bundle's verdict reaches the JUnit XML, written at sessionfinish.
        self.config.stash[RECORD_KEY].exitstatus = int(exitstatus)
        _stop_workers(self.config)  # after a stop: no worker writes into a closed bundle
        if not self._close():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _cleanup(self) -> None:
        self._close()

    def _close(self) -> bool:
        """Tear the target down and close the bundle once; False when that found a
        problem the run must fail on (a failed rollback, a secret in the bundle)."""
        if self.bundle is None or self.bundle.closed:
            return True
        record = self.config.stash[RECORD_KEY]
        fine = True
        try:
            self.exits.close()  # the target's teardown: snapshots, logs, rollback, down
        except (pytest.fail.Exception, stack.StackError) as error:
            record.stop_text = str(error)
            fine = False
        finally:
            record.workers = max(self.workers, 1)
            try:
                closing.close_bundle(self.config, self.bundle, self.started)
            except SecretLeakError as error:
                sys.stderr.write(f"pytest-codex: evidence: {error}\n")
                fine = False
        return fine


def _stop_workers(config: pytest.Config) -> None:
    """End the workers before the bundle closes. After a complete run they are down
    already; after SIGTERM or Ctrl-C they may still be running cases and writing files.
    pytest-xdist ends them in its own sessionfinish, after ours: this asks it first
    (its node manager, the object that ends them; twice is harmless)."""
    dsession = config.pluginmanager.get_plugin("dsession")
    manager = getattr(dsession, "nodemanager", None)
    teardown = getattr(manager, "teardown_nodes", None)
    if callable(teardown):
        teardown()

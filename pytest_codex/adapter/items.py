"""The pytest adapter for matrix files: a `pytest.File` that validates the YAML once and
yields one item per case of the current mode, and the item that runs a case."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter.harness import Harness, matrix_label
from pytest_codex.adapter.stash import RECORD_KEY, SETTINGS_KEY
from pytest_codex.bundle.record import CaseRecord
from pytest_codex.cases.load import LoadTarget, run_load
from pytest_codex.cases.runner import (
    CaseFailedError,
    CaseOutcome,
    MissingVariableError,
    run_outcome,
)
from pytest_codex.matrix.chains import Chains, uses
from pytest_codex.matrix.files import Case, MatrixError, load_matrix, matrix_root

STUB_ONLY_FAMILY = "model-stub-only"
STUB_ONLY_REASON = (
    "model-stub-only: this case needs the bundled model stand-in (a [model-stub:...] fault "
    "marker or the files it scripts); against a real model it would bill an agent run "
    "and prove nothing (--codex-live-model=openai)"
)


class PrerequisiteFailedError(Exception):
    """A case needs a value that a prerequisite case was run to save, and it failed."""


class MatrixFile(pytest.File):
    """A YAML matrix; its cases share saved variables. Whatever subset pytest selects, a
    case whose values come from cases that have not run runs those first (prerequisites)."""

    def collect(self) -> Iterator[pytest.Function]:
        settings = self.config.stash[SETTINGS_KEY]
        try:
            folders = () if settings.result_schema is None else (settings.result_schema.parent,)
            root = matrix_root(self.path, settings.matrix_paths)
            matrix = load_matrix(self.path, root=root, schema_folders=folders)
        except MatrixError as error:
            raise self.CollectError(str(error)) from None
        self.variables: dict[str, str] = {}
        self.ran: set[str] = set()  # cases run in this process, in any role
        self.failed: set[str] = set()  # of those, the ones that did not pass
        mode = settings.mode
        self.cases = [case for case in matrix.cases if case.runs_in(mode)]
        # What the run used, by hash of the bytes: `codex-evidence diff` tells drift by it.
        label = matrix_label(self.path, settings.matrix_paths)
        self.config.stash[RECORD_KEY].matrices[label] = {
            "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest(),
            "cases": len(self.cases),
        }
        self.chains = Chains(self.cases)
        self.saved_by: dict[str, str] = {}  # variable -> the case whose run saved it last
        self._in_order = 0  # the first `_in_order` cases have all run
        self._furthest = -1  # the furthest position in the file that has run
        stub_only_skipped = (mode, settings.live_model) == ("live", "openai")
        for case in self.cases:
            item = CaseItem.from_parent(self, name=case.name, case=case, callobj=_matrix_case)
            if stub_only_skipped and case.family == STUB_ONLY_FAMILY:
                item.add_marker(pytest.mark.skip(reason=STUB_ONLY_REASON))
            yield item
        if matrix.load is not None and mode in matrix.modes:
            yield LoadItem.from_parent(
                self, name=matrix.name, load=matrix.load, callobj=_matrix_case
            )

    def prerequisites(self, case: Case) -> list[Case]:
        """The cases `case` depends on (see `chains`) that this process has not run, that
        failed, or whose saved value a case run since has replaced (a reordered run:
        `--ff`, node ids out of file order); none when the file has run in order so far."""
        position = self.chains.position[case.name]
        if position <= self._in_order and self._furthest < position:
            return []
        dependencies = self.chains.dependencies(case)
        used = uses(case).union(*(uses(d) for d in dependencies))

        def replaced(dependency: Case) -> bool:
            return any(
                name in used and self.saved_by.get(name, dependency.name) != dependency.name
                for name in dependency.save
            )

        return [
            d
            for d in dependencies
            if d.name not in self.ran or d.name in self.failed or replaced(d)
        ]

    def mark_run(self, case: Case) -> None:
        self.ran.add(case.name)
        self._furthest = max(self._furthest, self.chains.position[case.name])
        while self._in_order < len(self.cases) and self.cases[self._in_order].name in self.ran:
            self._in_order += 1


def _matrix_case(codex_harness: Harness) -> None:
    """Stands for a case: its signature tells pytest the fixtures a case needs (so
    overrides in a conftest.py apply); the case itself runs in `CaseItem.runtest`."""


class CaseItem(pytest.Function):
    """One matrix case: one request, its expectations, its evidence."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker("codex")

    def runtest(self) -> None:
        harness = self.funcargs["codex_harness"]
        assert isinstance(harness, Harness)
        matrix = self.parent
        assert isinstance(matrix, MatrixFile)
        for prerequisite in matrix.prerequisites(self.case):
            head = (
                f"{self.path.name}::{self.case.name}: its prerequisite {prerequisite.name!r} "
                "(it saves a value this case needs) failed"
            )
            if prerequisite.name in matrix.failed:
                message = f"{head} earlier in this run"
            else:
                try:
                    run_recorded(harness, matrix, prerequisite, self.case.name)
                    continue
                except Exception as error:
                    message = f"{head}:\n{error}"
            harness.record(self.case, CaseOutcome("error", None, 0.0, None, message))
            matrix.failed.add(self.case.name)
            raise PrerequisiteFailedError(message)
        run_recorded(harness, matrix, self.case, None)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        """A case failure is its own readable text; anything else is pytest's usual."""
        if isinstance(
            excinfo.value, CaseFailedError | MissingVariableError | PrerequisiteFailedError
        ):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = None if self.case.line is None else self.case.line - 1
        return self.path, line, self.case.name


def run_recorded(
    harness: Harness, matrix: MatrixFile, case: Case, prerequisite_of: str | None
) -> None:
    """Run one case and record its outcome whatever it raised (`runner.run_outcome`):
    passed, failed (the expectations), or error (anything else); then raise what it
    raised."""
    matrix.mark_run(case)
    before = dict(matrix.variables)
    outcome, error = run_outcome(
        case,
        harness.context(matrix.variables),
        evidence_name=None if prerequisite_of is None else f"{case.name}.for-{prerequisite_of}",
    )
    for name in case.save:
        if name in matrix.variables and matrix.variables[name] != before.get(name):
            matrix.saved_by[name] = case.name
    harness.record(case, outcome, role="selected" if prerequisite_of is None else "prerequisite")
    if error is not None:
        matrix.failed.add(case.name)
        raise error
    matrix.failed.discard(case.name)  # a later run of it passed: no longer a blocker


class LoadFailedError(AssertionError):
    """Errors or incomplete projects under load; the text holds the figures."""


class LoadItem(pytest.Function):
    """A load run (a matrix file with `load:`): creations, then reads, then a check of
    every project; the figures go into the evidence (`load/<name>.json`) and the summary."""

    def __init__(self, *, load: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.load = load
        self.add_marker("codex")

    def runtest(self) -> None:
        harness = self.funcargs["codex_harness"]
        assert isinstance(harness, Harness)
        started = time.perf_counter()
        outcome = CaseOutcome("error", None, 0.0, None, f"load {self.name}: did not finish")
        try:
            outcome = self._run(harness)
        except Exception as error:
            message = f"load {self.name}: {type(error).__name__}: {error}"
            outcome = CaseOutcome("error", None, 0.0, None, message)
            raise
        finally:  # the one record of the load run, whatever it raised, with its duration
            harness.evidence.record(
                CaseRecord(
                    self.name,
                    self.path.name,
                    outcome.outcome,
                    outcome.elapsed_ms or (time.perf_counter() - started) * 1000,
                    status=outcome.status,
                    evidence=outcome.evidence,
                    message=outcome.message,
                )
            )
        if outcome.message is not None:
            raise LoadFailedError(outcome.message)

    def _run(self, harness: Harness) -> CaseOutcome:
        report = run_load(
            harness.stack.base_url,
            creations=int(self.load["creations"]),
            reads=int(self.load["reads"]),
            clients=int(self.load["clients"]),
            instruction=str(self.load.get("instruction", "Create a Python CLI app (load).")),
            expected_files=list(self.load["files"]),
            timeout=harness.settings.request_timeout,
            token=harness.api_token,
            target=LoadTarget.from_matrix(self.load),
        )
        figures = report.figures()
        evidence = f"load/{self.name}.json"
        harness.evidence.write_json(evidence, figures)
        harness.run.load[self.name] = {
            key: figures[key] for key in ("clients", "create", "read", "projects", "passed")
        }
        return CaseOutcome(
            "passed" if report.passed else "failed",
            None,
            (report.create.seconds + report.read.seconds) * 1000,
            evidence,
            None if report.passed else _load_failure(self.name, figures, harness, evidence),
        )

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, LoadFailedError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"load {self.name}"


def _load_failure(name: str, figures: dict[str, Any], harness: Harness, evidence: str) -> str:
    return (
        f"load {name} failed: {figures['create']['errors']} creation errors, "
        f"{figures['read']['errors']} read errors, {figures['incomplete']} incomplete "
        f"projects\n  samples: {figures['error_samples'][:5]}\n"
        f"  evidence: {harness.evidence.path / evidence}"
    )

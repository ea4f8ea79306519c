"""The pytest adapter for matrix files: a `pytest.File` that validates the YAML once and
yields one item per case of the current mode, and the item that runs a case."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.harness import Harness
from pytest_codex.load import run_load
from pytest_codex.matrix import Case, MatrixError, load_matrix
from pytest_codex.runner import CaseFailedError, MissingVariableError, run_case
from pytest_codex.settings import Settings

SETTINGS_KEY = pytest.StashKey[Settings]()
STUB_ONLY_FAMILY = "model-stub-only"
STUB_ONLY_REASON = (
    "model-stub-only: this case needs the bundled model stand-in (a [model-stub:...] fault "
    "marker or the files it scripts); against a real model it would bill an agent run "
    "and prove nothing (--codex-live-model=openai)"
)


class MatrixFile(pytest.File):
    """A YAML matrix; its cases run in file order and share saved variables."""

    def collect(self) -> Iterator[pytest.Function]:
        try:
            matrix = load_matrix(self.path)
        except MatrixError as error:
            raise self.CollectError(str(error)) from None
        self.variables: dict[str, str] = {}
        settings = self.config.stash[SETTINGS_KEY]
        mode = settings.mode
        for case in matrix.cases:
            if case.runs_in(mode):
                item = CaseItem.from_parent(self, name=case.name, case=case, callobj=_matrix_case)
                if case.family == STUB_ONLY_FAMILY and (mode, settings.live_model) == (
                    "live",
                    "openai",
                ):
                    item.add_marker(pytest.mark.skip(reason=STUB_ONLY_REASON))
                yield item
        if matrix.load is not None and mode in matrix.modes:
            yield LoadItem.from_parent(
                self, name=matrix.name, load=matrix.load, callobj=_matrix_case
            )


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
        assert isinstance(self.parent, MatrixFile)
        started = time.perf_counter()
        try:
            outcome = run_case(self.case, harness.context(self.parent.variables))
        except CaseFailedError as failure:
            failed = failure.outcome
            harness.record(
                self.case,
                failed.outcome,
                failed.status,
                failed.elapsed_ms,
                failed.evidence,
                str(failure),
            )
            raise
        except MissingVariableError as error:
            harness.record(
                self.case, "error", None, (time.perf_counter() - started) * 1000, None, str(error)
            )
            raise
        harness.record(
            self.case, "passed", outcome.status, outcome.elapsed_ms, outcome.evidence, None
        )

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        """A case failure is its own readable text; anything else is pytest's usual."""
        if isinstance(excinfo.value, CaseFailedError | MissingVariableError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = None if self.case.line is None else self.case.line - 1
        return self.path, line, self.case.name


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
        report = run_load(
            harness.stack.base_url,
            creations=int(self.load["creations"]),
            reads=int(self.load["reads"]),
            clients=int(self.load["clients"]),
            instruction=str(self.load.get("instruction", "Create a Python CLI app (load).")),
            expected_files=list(self.load["files"]),
            timeout=harness.settings.request_timeout,
            token=harness.api_token,
        )
        figures = report.figures()
        evidence = f"load/{self.name}.json"
        harness.evidence.write_json(evidence, figures)
        harness.report.setdefault("load", {})[self.name] = {
            key: figures[key] for key in ("clients", "create", "read", "projects", "passed")
        }
        outcome = "passed" if report.passed else "failed"
        message = None if report.passed else _load_failure(self.name, figures, harness, evidence)
        harness.evidence.record_case(
            self.name,
            self.path.name,
            outcome,
            None,
            (report.create.seconds + report.read.seconds) * 1000,
            evidence,
            message,
        )
        tally = harness.report.setdefault("tally", {})
        tally[outcome] = tally.get(outcome, 0) + 1
        if message is not None:
            raise LoadFailedError(message)

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

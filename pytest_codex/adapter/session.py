"""The session's side of the run record: hooks that fill the `RunRecord` (what was
collected and selected, and how the session ended), SIGTERM handled like Ctrl-C, one stop
of the session on a target failure, and the `codex evidence` terminal section, which
prints what the record holds (the verdict `review.verdict.judge` gave the manifest).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter import xdist as parallel
from pytest_codex.adapter.items import CaseItem, LoadItem
from pytest_codex.adapter.stash import RECORD_KEY, REDACTOR_KEY, SETTINGS_KEY, SIGNAL_KEY
from pytest_codex.bundle.record import (
    INTERNAL_ERROR,
    INTERRUPTED,
    STACK_FAILURE,
    STOPPED_EARLY,
    CaseRecord,
    RunRecord,
    Selection,
)
from pytest_codex.secrets.redact import Redactor


def new_record(config: pytest.Config) -> RunRecord:
    """The run's record, with what selects its cases (pytest's own options as given)."""
    args = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    return RunRecord(
        selection=Selection(
            keyword=config.getoption("keyword") or None,
            markers=config.getoption("markexpr") or None,
            deselect=list(config.getoption("deselect") or []),
            args=args,
            last_failed=bool(config.getoption("lf", False)),
            failed_first=bool(config.getoption("failedfirst", False)),
            stepwise=bool(config.getoption("stepwise", False)),
            maxfail=int(config.getoption("maxfail", 0) or 0),
        )
    )


def handle_sigterm(config: pytest.Config) -> None:
    """SIGTERM (what CI runners send on cancel) ends the run like Ctrl-C: the stack is
    torn down and the bundle closed as interrupted. A second SIGTERM is ignored so that
    the teardown can finish."""
    if threading.current_thread() is not threading.main_thread():
        return
    if hasattr(config, "workerinput"):  # an xdist worker: the controller handles it
        return

    def on_sigterm(signum: int, frame: object) -> None:
        record = config.stash[RECORD_KEY]
        if record.signal is not None:
            return
        record.signal = "SIGTERM"
        record.stop(INTERRUPTED, "SIGTERM")
        raise KeyboardInterrupt("SIGTERM")

    config.stash[SIGNAL_KEY] = signal.signal(signal.SIGTERM, on_sigterm)


def restore_sigterm(config: pytest.Config) -> None:
    previous = config.stash.get(SIGNAL_KEY, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


class SessionWatcher:
    """Hooks that fill the run's record: what was collected and selected, and how the
    session ended. Registered per config, so no state lives at module level."""

    def __init__(self, config: pytest.Config) -> None:
        self.record = config.stash[RECORD_KEY]
        self.cases: dict[str, CaseItem] = {}

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # After every plugin's modifyitems (--lf deselects in a wrapper that ends last),
        # so the counts add up: selected + deselected = collected.
        items = session.items
        self.record.selected = sum(isinstance(item, CaseItem | LoadItem) for item in items)
        self.record.collected = self.record.selected + self.record.deselected
        self.cases = {item.nodeid: item for item in items if isinstance(item, CaseItem)}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A case skipped before it ran (a skip marker) is recorded too: every selected
        # case ends in one recorded outcome.
        item = self.cases.get(report.nodeid)
        if item is not None and report.when == "setup" and report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            case = item.case
            self.record.skipped.append(
                CaseRecord(
                    case.name, case.file.name, "skipped", 0.0, case.matrix_key, message=str(reason)
                )
            )

    @pytest.hookimpl
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.record.deselected += sum(isinstance(item, CaseItem | LoadItem) for item in items)

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # Ctrl-C, SIGTERM (see handle_sigterm), pytest.exit and pytest's own stops
        # (--sw, xdist's --maxfail) all arrive here.
        error = excinfo.value
        # pytest's and xdist's own `Interrupted` (a KeyboardInterrupt they raise to stop).
        if type(error).__name__ == "Interrupted" and self.record.signal is None:
            self.record.stop(STOPPED_EARLY, str(error) or "pytest stopped the session")
            return
        exiting = isinstance(error, pytest.exit.Exception)
        self.record.stop(INTERRUPTED, "pytest.exit" if exiting else "KeyboardInterrupt")

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Before every plugin's own sessionfinish: the record sees the end, then the bundle
        # of an interrupted session closes before junitxml writes its report.
        self.record.exitstatus = int(exitstatus)
        note_early_stop(self.record, session)
        parallel.hand_over_session(session.config)
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.record.stop(INTERNAL_ERROR, "pytest internal error")
        raised = _close_early(session, self.record)
        yield
        if raised is not None:
            raise raised


def _close_early(session: pytest.Session, record: RunRecord) -> BaseException | None:
    """After Ctrl-C or SIGTERM pytest ends the session fixtures in its own sessionfinish,
    after junitxml has written its report: end them here first, so the bundle is closed
    and its verdict is in the report, as after a complete run. What that teardown raised
    is returned, to be raised once the other plugins have finished (where pytest would
    have raised it). Not on xdist: the controller closes the one bundle."""
    config = session.config
    if record.bundle is None or record.verdict is not None:
        return None
    if hasattr(config, "workerinput") or parallel.is_controller(config):
        return None
    setup_state = getattr(session, "_setupstate", None)  # pytest's own, as its runner uses it
    if setup_state is None:
        return None
    try:
        setup_state.teardown_exact(None)
    except (Exception, pytest.fail.Exception) as error:
        return error
    return None


def note_early_stop(record: RunRecord, session: pytest.Session) -> None:
    """-x / --maxfail / --sw: pytest stopped the session after a failure. Called at the
    session's end and when the bundle closes (pytest tears the session fixtures down with
    the item that stopped it, before its own sessionfinish)."""
    if session.shouldfail:
        record.stop(STOPPED_EARLY, f"{session.shouldfail} (-x/--maxfail)")
    elif isinstance(session.shouldstop, str) and session.shouldstop:
        record.stop(STOPPED_EARLY, session.shouldstop)


def stop_session(config: pytest.Config, error: BaseException) -> None:
    """A target that cannot be started or reached stops the whole session once: the
    cause is printed in full at the end, the bundle records it, no item repeats it."""
    text = str(error)
    record = config.stash[RECORD_KEY]
    record.stop(STACK_FAILURE, text.splitlines()[0])
    record.stop_text = text
    pytest.exit(
        "pytest-codex: the session stopped; the cause is under 'codex evidence'", returncode=1
    )


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The `codex evidence` section: what the run record holds, every line redacted."""
    record = config.stash.get(RECORD_KEY, None)
    if record is None or record.bundle is None:
        return
    redactor = config.stash.get(REDACTOR_KEY, Redactor({}))

    def write(line: str, **markup: bool) -> None:
        terminalreporter.write_line(redactor.redact(line), **markup)

    terminalreporter.write_sep("-", "codex evidence")
    if record.stop_text is not None:
        write(f"SESSION STOPPED: {record.stop_text}", red=True)
    if record.verdict is not None:
        write(record.verdict.line(config.stash[SETTINGS_KEY].mode))
    if record.signed:
        write("signed: attestation.dsse.json (check with verify --key)")
    write(f"bundle: {record.bundle}")
    review_page = Path(record.bundle) / "index.html"
    if review_page.is_file():
        write(f"review page: {review_page}")
    if record.archive is not None:
        write(f"archive: {record.archive}")
    if record.pruned:
        names = ", ".join(record.pruned)
        write(f"removed {len(record.pruned)} older run(s) (--codex-evidence-keep): {names}")
    for line in record.checks_not_run:
        write(f"not checked: {line}", yellow=True)
    if record.timings:
        write(
            "timings: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in record.timings.items())
        )
    if record.rollback is not None:
        write(f"rollback to mocked: {'passed' if record.rollback['passed'] else 'FAILED'}")
    if record.leak is not None:
        write(f"SECRET SCAN FAILED: {record.leak}", red=True)

"""Each case's evidence file in pytest's own reports: a JUnit XML `evidence` property per
test case and, when pytest-html is installed, an `evidence` link in each row.

`register(config)` (from plugin.py's `pytest_configure`) adds `EvidenceReporting`, a small
plugin object: its `pytest_runtest_makereport` wrapper finds the case's record in the
run's evidence bundle (the item's `codex_harness`) and adds `("evidence", <path>)` to the
report's user properties, which JUnit XML writes as `<property name="evidence" ...>`.
`suite_property` adds the run's verdict to the testsuite (`codex_verdict`). The
pytest-html hooks are optional hooks: without pytest-html they are never called.
"""

from __future__ import annotations

import html
from collections.abc import Generator, MutableSequence
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.bundle.writer import EvidenceBundle

EVIDENCE_PROPERTY = "evidence"
PLUGIN_NAME = "codex-reporting"


def case_evidence(bundle: EvidenceBundle, file: str, name: str) -> Path | None:
    """The evidence file of the last record of `file::name` in the bundle, if it has one."""
    for record in reversed(bundle.cases):
        if record["file"] == file and record["name"] == name:
            evidence = record.get("evidence")
            return bundle.path / evidence if evidence else None
    return None


def item_evidence(item: pytest.Item) -> Path | None:
    """The evidence file of a matrix case or load item (None for other tests)."""
    funcargs = getattr(item, "funcargs", None) or {}
    harness = funcargs.get("codex_harness")
    bundle = getattr(harness, "evidence", None)
    if not isinstance(bundle, EvidenceBundle):
        return None
    return case_evidence(bundle, item.path.name, item.name)


def add_evidence_property(properties: list[tuple[str, object]], path: Path) -> None:
    """Append `("evidence", path)` once."""
    entry = (EVIDENCE_PROPERTY, str(path))
    if entry not in properties:
        properties.append(entry)


def evidence_of(report: Any) -> str | None:
    for name, value in getattr(report, "user_properties", ()):
        if name == EVIDENCE_PROPERTY:
            return str(value)
    return None


def html_header(cells: MutableSequence[str]) -> None:
    """pytest-html: the `Evidence` column's header."""
    cells.append("<th>Evidence</th>")


def html_row(report: Any, cells: MutableSequence[str]) -> None:
    """pytest-html: a link to the case's evidence file (a file:// URI), or an empty cell."""
    evidence = evidence_of(report)
    if evidence is None:
        cells.append("<td></td>")
        return
    uri = Path(evidence).resolve().as_uri()
    cells.append(
        f'<td><a href="{html.escape(uri, quote=True)}">{html.escape(Path(evidence).name)}</a></td>'
    )


class EvidenceReporting:
    """Hooks that put each case's evidence path into pytest's reports."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        if call.when != "call":
            return
        path = item_evidence(item)
        if path is not None:
            # The item's properties reach the teardown report, which JUnit XML writes.
            add_evidence_property(item.user_properties, path)
            report: pytest.TestReport = outcome.get_result()
            add_evidence_property(report.user_properties, path)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: MutableSequence[str]) -> None:
        html_header(cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: MutableSequence[str]) -> None:
        html_row(report, cells)


def suite_property(config: pytest.Config, name: str, value: str) -> None:
    """A `<property>` of the JUnit XML testsuite (`--junitxml`), e.g. the run's verdict;
    nothing without --junitxml. The XML writer is found by what it offers (pytest has no
    public handle on it), as the `record_testsuite_property` fixture uses it."""
    for plugin in config.pluginmanager.get_plugins():
        add = getattr(plugin, "add_global_property", None)
        if callable(add) and type(plugin).__name__ == "LogXML":
            add(name, value)


def register(config: pytest.Config) -> None:
    """Add the evidence reporting hooks (call from `pytest_configure`)."""
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(EvidenceReporting(), PLUGIN_NAME)

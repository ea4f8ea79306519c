"""Each case's evidence path in pytest's reports: the JUnit `evidence` property of a real
run, and the pytest-html cells (as pytest-html calls them)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_codex.adapter import junit as reporting
from tests.conftest import Orchestrator

REGISTER = (
    "from pytest_codex.adapter import junit as reporting\n\n\n"
    "def pytest_configure(config):\n    reporting.register(config)\n"
)
MATRIX = (
    "name: small\ncases:\n"
    "  - name: healthz\n    request: {path: /healthz}\n    expect: {status: 200}\n"
    "  - name: expects-teapot\n    request: {path: /healthz}\n    expect: {status: 418}\n"
)


def test_every_case_of_the_junit_report_names_its_evidence_file(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    # Until plugin.py's pytest_configure calls reporting.register, a conftest.py does.
    pytester.makeconftest(REGISTER)
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "small.yaml").write_text(MATRIX)
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        "--codex-evidence-dir=evidence",
        "--junitxml=junit.xml",
        "matrices",
    )
    result.assert_outcomes(passed=1, failed=1)
    tree = ET.parse(pytester.path / "junit.xml")
    found = {}
    for case in tree.iter("testcase"):
        [prop] = [p for p in case.iter("property") if p.get("name") == "evidence"]
        found[case.get("name")] = Path(str(prop.get("value")))
    assert set(found) == {"healthz", "expects-teapot"}
    for name, path in found.items():
        assert path.is_file(), path
        assert path.as_posix().endswith(f"/mocked/cases/small/{name}.case.json")


def test_pytest_html_cells_link_to_the_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "cases" / "m" / "a<b>.json"
    header: list[str] = ["<th>Result</th>"]
    reporting.html_header(header)
    assert header[-1] == "<th>Evidence</th>"
    row: list[str] = []
    report = SimpleNamespace(user_properties=[("evidence", str(evidence))])
    reporting.html_row(report, row)
    assert row == [f'<td><a href="{evidence.as_uri()}">a&lt;b&gt;.json</a></td>']
    other: list[str] = []
    reporting.html_row(SimpleNamespace(user_properties=[]), other)
    assert other == ["<td></td>"]


def test_the_property_is_added_once(tmp_path: Path) -> None:
    properties: list[tuple[str, object]] = []
    reporting.add_evidence_property(properties, tmp_path / "x.json")
    reporting.add_evidence_property(properties, tmp_path / "x.json")
    assert properties == [("evidence", str(tmp_path / "x.json"))]

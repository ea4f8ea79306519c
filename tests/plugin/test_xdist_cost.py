"""`-n N` on cases too fast to pay for the workers' start: the summary says so; on slow
cases it says nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_codex.adapter.xdist import WorkerCost
from tests.conftest import REPO, Orchestrator
from tests.local_http import serving, slow_handler

NOTE = "pytest-codex: -n 2: the workers took * s from their start to the last case, the cases *"
SLOW_CASE_S = 1.0
SLOW_CASES = 8


def test_fast_cases_under_workers_get_a_note(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'traversal.yaml'}",
        "--codex-evidence-dir=evidence",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=43)
    result.stdout.fnmatch_lines([NOTE + "the workers cost more than they save (run without -n)"])


@pytest.fixture
def slow_server() -> Iterator[str]:
    with serving(slow_handler(SLOW_CASE_S)) as url:
        yield url


def test_slow_cases_under_workers_get_no_note(pytester: pytest.Pytester, slow_server: str) -> None:
    cases = "".join(
        f"  - name: slow-{n}\n    request: {{path: /slow/{n}}}\n    expect: {{status: 200}}\n"
        for n in range(SLOW_CASES)
    )
    pytester.path.joinpath("slow.yaml").write_text(f"name: slow\ncases:\n{cases}")
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={slow_server}",
        "--codex-matrix=slow.yaml",
        "--codex-evidence-dir=evidence",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=SLOW_CASES)
    result.stdout.no_fnmatch_line("pytest-codex: -n *")


def test_the_note_weighs_the_workers_time_against_the_cases() -> None:
    cost = WorkerCost(workers=4, workers_started=10.0, last_report=12.5, case_s=0.4)
    assert cost.note() == (
        "pytest-codex: -n 4: the workers took 2.5 s from their start to the last case, the "
        "cases 0.4 s in all; on cases this fast the workers cost more than they save (run "
        "without -n)"
    )
    assert WorkerCost(workers=4, workers_started=10.0, last_report=12.5, case_s=9).note() is None
    assert WorkerCost(workers=1, workers_started=10.0, last_report=12.5).note() is None

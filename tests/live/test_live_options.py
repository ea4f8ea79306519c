"""Live-mode options without a stack: the stand-in-only cases are skipped, with their
reason, against a real model, and the request timeout defaults above the job timeout."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

STUB_ONLY = [
    "worker-result-scripted-files",
    "edit-result-scripted-files",
    "model-401",
    "model-401-result",
    "model-429",
    "model-429-result",
    "model-500",
    "model-500-result",
    "model-response-failed",
    "model-response-failed-result",
    "model-stall",
    "model-stall-result",
    "model-hangs-until-the-job-timeout",
]


def test_stand_in_only_cases_are_skipped_under_openai(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath(".env.live").write_text("OPENAI_API_KEY=sk-canary-skip-0000\n")
    live = pytester.path / "live.yaml"
    live.write_text((REPO / "matrices" / "live.yaml").read_text())
    # Selecting only those cases: skipped items start nothing, so no stack is needed.
    result = pytester.runpytest_subprocess(
        "--codex-mode=live",
        "--codex-live-model=openai",
        f"--codex-matrix={live}",
        str(live),
        "-k",
        " or ".join(STUB_ONLY),
        "-rs",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(skipped=len(STUB_ONLY))
    result.stdout.fnmatch_lines(["*SKIPPED*model-stub-only: this case needs the bundled*"])
    # The remaining cases of live.yaml do run against a real model.
    collected = pytester.runpytest_subprocess(
        "--codex-mode=live",
        "--codex-live-model=openai",
        f"--codex-matrix={live}",
        str(live),
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
    )
    names = [line.rsplit("::", 1)[-1] for line in collected.stdout.lines if "::" in line]
    assert sorted(set(names) - set(STUB_ONLY)) == [
        "create-through-worker",
        "edit-result",
        "edit-through-worker",
        "health-says-live",
        "still-serving-after-faults",
        "worker-result",
    ]


def test_live_mode_waits_longer_than_a_live_job(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath(".env.live").write_text("OPENAI_API_KEY=sk-canary-skip-0000\n")
    pytester.makepyfile(
        test_timeout="""
        def test_timeout(codex_settings):
            print("TIMEOUT=" + str(codex_settings.request_timeout))
        """
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=live", "--codex-matrix=test_timeout.py", "-s", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(["*TIMEOUT=360.0*"])  # the live overlay's jobs: 300 s

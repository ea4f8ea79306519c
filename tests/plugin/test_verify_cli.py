"""`codex-evidence verify` on bundles of real runs (the plugin against the reference
orchestrator as a plain process): a failure is refused until accepted, and a signed
bundle edited after the run is refused with the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.bundle import signing
from pytest_codex.review import cli as verify
from tests.conftest import Orchestrator
from tests.harness.bundle_samples import make_bundle
from tests.harness.test_verify import rehash

MATRIX = """
name: verdict
cases:
  - name: healthy
    request: {path: /healthz}
    expect: {status: 200}
  - name: expects-teapot
    request: {path: /healthz}
    expect: {status: 418}
"""


def run_once(pytester: pytest.Pytester, url: str, matrix: str) -> Path:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "verdict.yaml").write_text(matrix)
    pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={url}",
        "--codex-evidence-dir=evidence",
        "matrices",
    )
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    return bundle


def verify_output(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = verify.main(["verify", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_real_failure_is_refused_until_accepted(
    pytester: pytest.Pytester, orchestrator: Orchestrator, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = run_once(pytester, orchestrator.url, MATRIX)
    code, output = verify_output(capsys, str(bundle))
    assert code == 1
    assert "2 cases: 1 passed, 1 failed, 0 error, 0 skipped" in output
    assert "verdict: 1 failed, 0 error: verdict.yaml::expects-teapot" in output
    # --allow-partial: until the plugin writes format 2, a bundle has no session record.
    code, output = verify_output(capsys, str(bundle), "--allow-failures", "--allow-partial")
    assert code == 0, output
    assert "accepted: 1 failed, 0 error: verdict.yaml::expects-teapot" in output


def test_a_real_bundle_signed_then_forged_is_refused_with_the_key(
    pytester: pytest.Pytester,
    orchestrator: Orchestrator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    bundle = run_once(pytester, orchestrator.url, MATRIX)
    key, pub = signing.generate_keypair(tmp_path / "keys")
    signing.sign_bundle(bundle, signing.key_from_setting(key.read_text()))
    accept = ("--allow-failures", "--allow-partial")
    code, output = verify_output(capsys, str(bundle), "--key", str(pub), *accept)
    assert code == 0, output
    assert "signature: good, by key" in output
    # The forger's edit: the failing case's evidence says 200 and passed, re-hashed.
    case = bundle / "cases" / "verdict" / "expects-teapot.case.json"
    case.write_text(case.read_text().replace('"outcome": "failed"', '"outcome": "passed"'))
    rehash(bundle, "cases/verdict/expects-teapot.case.json")
    code, output = verify_output(capsys, str(bundle), "--key", str(pub), *accept)
    assert code == 1
    assert "cases/verdict/expects-teapot.case.json: edited after signing" in output
    assert "failed in the manifest, passed in cases/verdict/expects-teapot.case.json" in output


def test_verify_piped_into_a_reader_that_leaves_early_ends_quietly(tmp_path: Path) -> None:
    """`codex-evidence verify <bundle> | head -1`: the reader closes the pipe before the
    report is written; no BrokenPipeError traceback, the shell's SIGPIPE code."""
    bundle = make_bundle(tmp_path / "evidence")
    argv = [sys.executable, "-m", "pytest_codex.review.cli", "verify", str(bundle)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # what `head` does once it has its lines
        errors = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert "Traceback" not in errors, errors
    assert "BrokenPipeError" not in errors, errors
    assert code == verify.BROKEN_PIPE

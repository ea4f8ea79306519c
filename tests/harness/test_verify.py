"""`codex-evidence verify` accepts an intact bundle and names every problem of a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.evidence import EvidenceBundle
from pytest_codex.redact import Redactor
from pytest_codex.verify import main
from tests.harness.test_expectations import RESULT

CANARY = "sk-canary-verify-91ab"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    evidence = EvidenceBundle(tmp_path / "evidence", "mocked", Redactor({}))
    evidence.write_json("results/p1/result.json", RESULT)
    evidence.write_text("logs/service.log", "started\n")
    evidence.record_case("one", "mocked.yaml", "passed", 200, 1.0, None, None)
    evidence.finalize({})
    return evidence.path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["verify", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_intact_bundle_verifies(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(capsys, str(bundle))
    assert code == 0
    assert f"codex-evidence: OK {bundle} (4 files, 1 result.json" in output


def test_a_timestamp_folder_verifies_each_mode(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(capsys, str(bundle.parent))
    assert code == 0
    assert f"OK {bundle}" in output


def test_a_tampered_file_is_named(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = bundle / "logs" / "service.log"
    log.write_bytes(log.read_bytes().replace(b"started", b"STARTED"))
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert f"FAILED {bundle}" in output
    assert "logs/service.log: sha256 " in output
    assert "size" not in output  # same size, other bytes


def test_missing_and_extra_files_are_named(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "logs" / "service.log").unlink()
    (bundle / "added.txt").write_text("later")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "logs/service.log: listed in the manifest but missing" in output
    assert "added.txt: not in the manifest" in output


def test_a_result_json_violating_the_schema_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence = EvidenceBundle(tmp_path, "mocked", Redactor({}))
    evidence.write_json("results/p1/result.json", {**RESULT, "status": "maybe"})
    evidence.finalize({})
    code, output = run(capsys, str(evidence.path))
    assert code == 1
    assert "results/p1/result.json: $.status: 'maybe' is not one of" in output


def test_a_secret_is_found_by_env_name_and_by_env_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = EvidenceBundle(tmp_path, "mocked", Redactor({}))  # knows no secret
    evidence.write_text("logs/service.log", f"token {CANARY}\n")
    evidence.finalize({})
    monkeypatch.setenv("PLAIN_NAME", CANARY)
    code, output = run(capsys, str(evidence.path), "--secret-env", "PLAIN_NAME")
    assert code == 1
    assert "secret found: logs/service.log: PLAIN_NAME (raw)" in output
    env_file = tmp_path / ".env.live"
    env_file.write_text(f"OPENAI_API_KEY={CANARY}\n")
    monkeypatch.delenv("PLAIN_NAME")
    code, output = run(capsys, str(evidence.path), "--env-file", str(env_file))
    assert code == 1
    assert "secret found: logs/service.log: OPENAI_API_KEY (raw)" in output
    assert CANARY not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "codex-evidence: nowhere: no such folder"),
        (["{tmp}"], "holds no manifest.json"),
        (["{bundle}", "--env-file", "missing.env"], "--env-file: 'missing.env' does not exist"),
        (
            ["{bundle}", "--secret-env", "UNSET_VARIABLE_X"],
            "--secret-env: UNSET_VARIABLE_X is not set",
        ),
    ],
)
def test_usage_errors_exit_2(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    filled = [a.format(tmp=empty, bundle=bundle) for a in args]
    code, output = run(capsys, *filled)
    assert code == 2
    assert message in output


def test_the_console_script(bundle: Path) -> None:
    script = Path(sys.executable).parent / "codex-evidence"
    done = subprocess.run(
        [str(script), "verify", str(bundle)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"codex-evidence: OK {bundle}")


def test_a_well_known_secret_shape_is_found(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "logs" / "service.log").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "secret pattern found: logs/service.log:1: Private Key" in output

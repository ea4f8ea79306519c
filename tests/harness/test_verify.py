"""`codex-evidence verify` accepts an intact bundle of a passing run, names every problem
of a bad one, and refuses (unless told what to accept) a run that did not fully pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.bundle.reader import bundle_files
from pytest_codex.bundle.writer import EvidenceBundle, sha256_file
from pytest_codex.review.cli import main
from pytest_codex.secrets.redact import Redactor
from tests.harness.bundle_samples import record_case
from tests.harness.test_expectations import RESULT

CANARY = "sk-canary-verify-91ab"


def make_bundle(
    root: Path,
    outcomes: Sequence[str] = ("passed", "passed"),
    *,
    session: dict[str, Any] | None = None,
    format_1: bool = False,
) -> Path:
    """A finalized bundle with one case per outcome (evidence `cases/mocked/case-N.json`)
    and a format-2 session record (`session` overrides its fields), or a format-1 one."""
    evidence = EvidenceBundle(root, "mocked", Redactor({}))
    evidence.write_json("results/p1/result.json", RESULT)
    evidence.write_text("logs/service.log", "started\n")
    for index, outcome in enumerate(outcomes):
        name, path = f"case-{index}", f"cases/mocked/case-{index}.json"
        evidence.write_json(path, {"case": f"mocked.yaml::{name}", "outcome": outcome})
        message = None if outcome == "passed" else f"{name} {outcome}"
        record_case(evidence, name, "mocked.yaml", outcome, 200, 1.0, path, message)
    count = len(outcomes)
    record: dict[str, Any] = {
        "end": "completed",
        "reason": None,
        "exitstatus": 0,
        "collected": count,
        "selected": count,
        "deselected": 0,
        "selection": {"keyword": None, "markers": None, "deselect": [], "args": []},
        "run": count,
        "workers": 1,
    }
    metadata: dict[str, Any] = {"target": {"base_url": "http://127.0.0.1:8000"}}
    if not format_1:
        metadata["session"] = record | (session or {})
    evidence.finalize(metadata)
    edit_manifest(evidence.path, format=1 if format_1 else 2)
    return evidence.path


def manifest_of(bundle: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return document


def edit_manifest(bundle: Path, **fields: Any) -> None:
    manifest = manifest_of(bundle) | fields
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def rehash(bundle: Path, relative: str) -> None:
    """What a careful forger does after editing a file: put its new hash in the manifest."""
    manifest = manifest_of(bundle)
    entries = [e for e in manifest["files"] if e["path"] != relative]
    path = bundle / relative
    entries.append({"path": relative, "sha256": sha256_file(path), "size": path.stat().st_size})
    edit_manifest(bundle, files=entries)


def unlist(bundle: Path, *relatives: str) -> None:
    manifest = manifest_of(bundle)
    edit_manifest(bundle, files=[e for e in manifest["files"] if e["path"] not in relatives])


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "evidence")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["verify", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_intact_bundle_verifies(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(capsys, str(bundle))
    assert code == 0, output
    assert f"codex-evidence: OK {bundle} (7 files, 1 result.json" in output
    assert (
        "  2 cases: 2 passed, 0 failed, 0 error, 0 skipped; session completed; selected 2 of 2\n"
    ) in output
    assert "  signature: unsigned\n" in output
    assert "trusted" not in output


def test_a_timestamp_folder_verifies_each_mode(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(capsys, str(bundle.parent))
    assert code == 0
    assert f"OK {bundle}" in output


# ---- tamperings (issue 11: verify caught 2 of these 11) -------------------------------


def test_a_flipped_byte_is_named(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
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


def test_a_case_file_edited_and_rehashed_contradicts_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, ("passed", "failed"))
    case = bundle / "cases/mocked/case-1.json"
    case.write_text(case.read_text().replace('"failed"', '"passed"'))
    rehash(bundle, "cases/mocked/case-1.json")
    code, output = run(capsys, str(bundle), "--allow-failures")
    assert code == 1
    assert "case mocked.yaml::case-1: failed in the manifest, passed in cases/mocked/" in output


def test_a_case_file_deleted_with_its_manifest_entry_is_missed_evidence(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "cases/mocked/case-0.json").unlink()
    unlist(bundle, "cases/mocked/case-0.json")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "case mocked.yaml::case-0: its evidence cases/mocked/case-0.json is missing" in output


def flip_first_failure(bundle: Path, *, totals: bool) -> None:
    manifest = manifest_of(bundle)
    manifest["cases"][1]["outcome"] = "passed"
    if totals:
        manifest["totals"] |= {"passed": 2, "failed": 0}
    edit_manifest(bundle, cases=manifest["cases"], totals=manifest["totals"])


def test_an_outcome_flipped_in_the_manifest_alone_contradicts_the_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, ("passed", "failed"))
    flip_first_failure(bundle, totals=False)
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "manifest.json: totals 1 passed, 1 failed, 0 error, 0 skipped contradict" in output


def test_an_outcome_flipped_with_the_totals_contradicts_summary_and_case_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, ("passed", "failed"))
    flip_first_failure(bundle, totals=True)
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "SUMMARY.md: says '2 cases: 1 passed, 1 failed," in output
    assert "case mocked.yaml::case-1: passed in the manifest, failed in" in output


def test_an_outcome_flipped_with_summary_rewritten_still_contradicts_the_case_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, ("passed", "failed"))
    flip_first_failure(bundle, totals=True)
    summary = bundle / "SUMMARY.md"
    text = summary.read_text().replace("1 passed, 1 failed", "2 passed, 0 failed")
    summary.write_text(text.replace("run: FAILED", "run: PASSED", 1))
    rehash(bundle, "SUMMARY.md")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "SUMMARY.md" not in output
    assert "case mocked.yaml::case-1: passed in the manifest, failed in" in output


def test_totals_contradicting_the_cases_are_named(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_manifest(bundle, totals={"passed": 5, "failed": 0, "error": 0, "skipped": 0})
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "manifest.json: totals 5 passed, 0 failed, 0 error, 0 skipped contradict" in output


def test_an_extra_file_in_the_manifest_is_missing(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = manifest_of(bundle)
    extra = {"path": "cases/mocked/extra.json", "sha256": "0" * 64, "size": 2}
    edit_manifest(bundle, files=[*manifest["files"], extra])
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "cases/mocked/extra.json: listed in the manifest but missing" in output


def test_all_case_files_removed_is_named_per_case(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(bundle / "cases")
    unlist(bundle, "cases/mocked/case-0.json", "cases/mocked/case-1.json")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert output.count("is missing from the bundle") == 2


def test_a_rewritten_target_and_run_id_need_the_signature(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unsigned, the manifest's own fields cannot be checked; test_signing shows --key
    rejecting this edit."""
    edit_manifest(bundle, run_id="f" * 32, target={"base_url": "https://prod.example"})
    code, output = run(capsys, str(bundle))
    assert code == 0
    assert "signature: unsigned" in output


def test_a_case_file_replaced_by_a_symlink_outside_is_refused(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text((bundle / "cases/mocked/case-0.json").read_text())
    (bundle / "cases/mocked/case-0.json").unlink()
    (bundle / "cases/mocked/case-0.json").symlink_to(outside)
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "cases/mocked/case-0.json: a symbolic link; a bundle holds regular files only" in output
    assert "cases/mocked/case-0.json: listed in the manifest but missing" in output


def test_a_special_file_and_a_linked_folder_are_refused(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(bundle / "logs" / "pipe")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.txt").write_text("x")
    (bundle / "more").symlink_to(tmp_path / "elsewhere")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "logs/pipe: a special file (fifo, socket, device)" in output
    assert "more: a symbolic link" in output
    assert "secret.txt" not in output  # never walked through the link


def test_bundle_files_walks_regular_files_only_and_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.json").write_text("{}")
    (tmp_path / "top.txt").write_text("x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (tmp_path / "link-dir").symlink_to(outside)
    (tmp_path / "a" / "link-file").symlink_to(outside / "secret.txt")
    os.mkfifo(tmp_path / "fifo")
    others: list[str] = []
    assert bundle_files(tmp_path, others=others) == ["a/b/deep.json", "top.txt"]
    assert sorted(others) == ["a/link-file", "fifo", "link-dir"]
    assert bundle_files(tmp_path, max_entries=7) == ["a/b/deep.json", "top.txt"]
    with pytest.raises(ValueError, match=r"more than 6 entries"):
        bundle_files(tmp_path, max_entries=6)


# ---- cross-checks of SUMMARY.md and the session record -------------------------------


def test_summary_first_line_stating_the_end_is_checked(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = bundle / "SUMMARY.md"
    text = summary.read_text()

    def first_line(line: str) -> tuple[int, str]:
        summary.write_text(f"# pytest-codex mocked run: {line}\n{text}")
        rehash(bundle, "SUMMARY.md")
        return run(capsys, str(bundle))

    assert first_line("COMPLETED, 2 passed, 0 failed (2 of 2 selected)")[0] == 0
    assert (
        first_line("COMPLETED, 2 passed, 0 failed, 0 error, 0 skipped (2 run of 2 selected)")[0]
        == 0
    )
    assert first_line("SOMETHING NEW, 2 passed, 0 failed")[0] == 0  # an unknown word
    code, output = first_line("INTERRUPTED (SIGTERM), 2 passed, 0 failed (2 run of 2 selected)")
    assert code == 1
    assert "SUMMARY.md: its first line says INTERRUPTED, the manifest's session ended" in output
    code, output = first_line("COMPLETED, 1 passed, 1 failed (2 of 5 selected)")
    assert code == 1
    assert (
        "SUMMARY.md: its first line says '1 passed, 1 failed', the manifest 2 passed, 0 failed"
    ) in output
    assert "its first line says '(2 of 5 selected)', the manifest 2 of 2 selected" in output
    code, output = first_line(
        "COMPLETED, 2 passed, 0 failed, 1 error, 0 skipped "
        "(1 run of 2 selected, 3 of 5 deselected)"
    )
    assert code == 1
    assert "says '2 passed, 0 failed, 1 error, 0 skipped', the manifest 2 passed" in output
    assert "says '1 run of 2 selected', the manifest 2 run of 2 selected" in output
    assert "says '3 of 5 deselected', the manifest 0 of 2 deselected" in output


def test_a_summary_without_totals_is_named(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "SUMMARY.md").write_text("# all good\n")
    rehash(bundle, "SUMMARY.md")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "SUMMARY.md: no totals line" in output


def test_a_session_that_does_not_add_up_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, session={"collected": 9, "deselected": 0})
    code, output = run(capsys, str(bundle), "--allow-partial")
    assert code == 1
    assert "session: 2 selected and 0 deselected do not make the 9 collected" in output


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"cases": [{"name": "x", "file": "f", "outcome": "won"}]}, "cases: not a list of"),
        ({"session": {"end": "fine"}}, "session.end: 'fine', expected one of"),
        ({"files": "all"}, "files: not a list of {path, sha256, size}"),
        ({"format": 7}, "format: 7, expected 1, 2 or 3"),
    ],
)
def test_a_malformed_manifest_is_one_line(
    bundle: Path, capsys: pytest.CaptureFixture[str], manifest: dict[str, Any], message: str
) -> None:
    edit_manifest(bundle, **manifest)
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert f"manifest.json: {message}" in output
    assert "Traceback" not in output


# ---- the verdict and what can be accepted ---------------------------------------------


def test_failed_cases_fail_unless_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, ("passed", "failed", "error"))
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "3 cases: 1 passed, 1 failed, 1 error, 0 skipped; session completed" in output
    assert (
        "verdict: 1 failed, 1 error: mocked.yaml::case-1, mocked.yaml::case-2 "
        "(give --allow-failures to accept)"
    ) in output
    code, output = run(capsys, str(bundle), "--allow-failures")
    assert code == 0, output
    assert "accepted: 1 failed, 1 error: mocked.yaml::case-1" in output


def test_an_interrupted_run_fails_unless_partial_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(
        tmp_path,
        session={"end": "interrupted", "reason": "SIGTERM", "collected": 5, "selected": 5},
    )
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "session interrupted (SIGTERM); selected 5 of 5" in output
    assert "verdict: interrupted (SIGTERM) after 2 of 5 selected (give --allow-partial" in output
    assert run(capsys, str(bundle), "--allow-partial")[0] == 0


def test_a_deselection_fails_unless_partial_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    selection = {"keyword": "files", "markers": None, "deselect": ["a::b"], "args": []}
    bundle = make_bundle(
        tmp_path, session={"collected": 286, "deselected": 284, "selection": selection}
    )
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "verdict: deselection: 2 of 286 selected by -k 'files', --deselect x1" in output
    assert run(capsys, str(bundle), "--allow-partial")[0] == 0
    assert run(capsys, str(bundle), "--allow-failures")[0] == 1


def test_an_empty_run_fails_even_when_partial_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, ())
    code, output = run(capsys, str(bundle), "--allow-partial", "--allow-failures")
    assert code == 1
    assert "0 cases: 0 passed" in output
    assert "verdict: empty run: no case ran (only --integrity-only ignores it)" in output
    assert run(capsys, str(bundle), "--integrity-only")[0] == 0


def test_a_stack_failure_fails_unless_only_integrity_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(
        tmp_path, session={"end": "stack_failure", "reason": "compose up: exit 1", "run": 0}
    )
    code, output = run(capsys, str(bundle), "--allow-partial")
    assert code == 1
    assert "verdict: session ended in stack_failure (compose up: exit 1)" in output
    code, output = run(capsys, str(bundle), "--integrity-only")
    assert code == 0
    assert "verdict" not in output


def test_a_format_1_manifest_warns_and_counts_as_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, format_1=True)
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "warning: format 1: no session record" in output
    assert "2 cases: 2 passed, 0 failed, 0 error, 0 skipped; session not recorded" in output
    code, output = run(capsys, str(bundle), "--allow-partial")
    assert code == 0
    assert "warning: format 1: no session record" in output


def test_a_format_2_manifest_without_a_session_counts_as_partial(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = manifest_of(bundle)
    del manifest["session"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "warning: format 2: no session record" in output
    assert "verdict: no session record (format 2): the run may be partial" in output
    assert run(capsys, str(bundle), "--allow-partial")[0] == 0


# ---- result.json schemas, secrets, usage -----------------------------------------------


def test_a_result_json_violating_the_schema_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence = EvidenceBundle(tmp_path, "mocked", Redactor({}))
    evidence.write_json("results/p1/result.json", {**RESULT, "status": "maybe"})
    evidence.finalize({})
    code, output = run(capsys, str(evidence.path), "--integrity-only")
    assert code == 1
    assert "results/p1/result.json: $.status: 'maybe' is not one of" in output


def test_the_bundle_s_own_result_schema_is_used(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = {"type": "object", "required": ["only-in-the-bundle"]}
    (bundle / "schemas").mkdir()
    (bundle / "schemas/result.schema.json").write_text(json.dumps(schema))
    rehash(bundle, "schemas/result.schema.json")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "results/p1/result.json: $: 'only-in-the-bundle' is a required property" in output
    (bundle / "schemas/result.schema.json").write_text('{"type": 12}')
    rehash(bundle, "schemas/result.schema.json")
    code, output = run(capsys, str(bundle))
    assert "schemas/result.schema.json: not a JSON Schema" in output


def test_the_shipped_result_schema_copied_into_the_bundle_verifies(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "schemas").mkdir()
    shipped = resources.files("pytest_codex.schemas") / "result.schema.json"
    (bundle / "schemas/result.schema.json").write_bytes(shipped.read_bytes())
    rehash(bundle, "schemas/result.schema.json")
    edit_manifest(bundle, schemas=[{"name": "result", "path": "schemas/result.schema.json"}])
    code, output = run(capsys, str(bundle))
    assert code == 0, output


def test_a_result_schema_named_by_the_manifest_must_be_there(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_manifest(bundle, schemas=[{"name": "result", "path": "schemas/result.schema.json"}])
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "schemas/result.schema.json: the manifest's result schema is missing" in output


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


def test_a_well_known_secret_shape_is_found(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "logs" / "service.log").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    code, output = run(capsys, str(bundle))
    assert code == 1
    assert "secret pattern found: logs/service.log:1: Private Key" in output


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
        (["{bundle}", "--key", "{tmp}/none.pub"], "--key: {tmp}/none.pub: no such file"),
        (["{bundle}", "--allow-everything"], "unrecognized arguments: --allow-everything"),
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
    assert message.format(tmp=empty) in output
    assert "Traceback" not in output


def test_the_console_script(bundle: Path) -> None:
    script = Path(sys.executable).parent / "codex-evidence"
    done = subprocess.run(
        [str(script), "verify", str(bundle)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"codex-evidence: OK {bundle}")

"""The evidence bundle: layout, manifest, summary, and the final secret scan."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pytest_codex.bundle.record import CaseRecord
from pytest_codex.bundle.writer import EvidenceBundle, EvidencePathError, SecretLeakError
from pytest_codex.secrets.redact import Redactor
from tests.harness.bundle_samples import record_case

CANARY = "sk-canary-evidence-7c1e"


def make_bundle(root: Path, **kwargs: str) -> EvidenceBundle:
    return EvidenceBundle(root, "mocked", Redactor({"OPENAI_API_KEY": CANARY}), **kwargs)


def every_byte(bundle: EvidenceBundle) -> bytes:
    return b"".join(p.read_bytes() for p in bundle.path.rglob("*") if p.is_file())


def test_layout_is_root_timestamp_mode(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, timestamp="20261125T000000Z", run_id="run-1")
    assert bundle.path == tmp_path / "20261125T000000Z" / "mocked"
    assert bundle.path.is_dir()
    assert bundle.run_id == "run-1"


def test_two_bundles_in_the_same_second_do_not_collide(tmp_path: Path) -> None:
    first = make_bundle(tmp_path, timestamp="20261125T000000Z")
    second = make_bundle(tmp_path, timestamp="20261125T000000Z")
    assert first.path != second.path
    assert second.path.parent.name == "20261125T000000Z-2"


def test_every_write_is_redacted_and_the_manifest_hashes_every_file(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    bundle.write_text("logs/service.log", f"key={CANARY}\n")
    bundle.write_json("cases/a/one.json", {"headers": {"Authorization": f"Bearer {CANARY}"}})
    bundle.write_bytes("raw.bin", b"\x00" + CANARY.encode())
    bundle.append_text("traversal/request-lines.txt", f"one\t{CANARY}\n")
    bundle.append_text("traversal/request-lines.txt", "two\n")
    record_case(bundle, "one", "a.yaml", "passed", 200, 1.5, "cases/a/one.json", None)
    record_case(bundle, "two", "a.yaml", "failed", 500, 2.0, None, f"saw {CANARY}")
    manifest_path = bundle.finalize({"versions": {"python": "3.11"}, "note": CANARY})

    assert CANARY.encode() not in every_byte(bundle)
    manifest = json.loads(manifest_path.read_text())
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == {
        "SUMMARY.md",
        "index.html",
        "cases/a/one.json",
        "logs/service.log",
        "raw.bin",
        "traversal/request-lines.txt",
    }
    for relative, entry in listed.items():
        data = (bundle.path / relative).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert manifest["mode"] == "mocked"
    assert manifest["versions"] == {"python": "3.11"}
    assert manifest["note"] == "[REDACTED:OPENAI_API_KEY]"
    assert manifest["totals"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    assert [case["name"] for case in manifest["cases"]] == ["one", "two"]
    lines = (bundle.path / "traversal/request-lines.txt").read_text().splitlines()
    assert lines == ["one\t[REDACTED:OPENAI_API_KEY]", "two"]


def test_summary_has_the_case_table_and_the_failures(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    record_case(bundle, "create", "mocked.yaml", "passed", 200, 10.0, "cases/m/create.json", None)
    record_case(bundle, "read", "mocked.yaml", "failed", 404, 1.0, None, "status: expected 200")
    bundle.finalize({"timings_s": {"stack_start": 1.5}})
    summary = (bundle.path / "SUMMARY.md").read_text()
    assert (
        "| mocked.yaml | create | passed | 200 | 10.0 | [create.json](cases/m/create.json) |"
        in summary
    )
    assert "### mocked.yaml::read (failed)" in summary
    assert "status: expected 200" in summary
    assert "- stack_start: 1.5 s" in summary
    assert "2 cases: 1 passed, 1 failed" in summary.replace("\n", " ")


@pytest.mark.parametrize(
    "relative",
    ["../out.txt", "/etc/x", "a/../../b", "a\\b", "a\0b", "", "manifest.json", "SUMMARY.md"],
)
def test_paths_that_leave_the_bundle_are_refused(tmp_path: Path, relative: str) -> None:
    bundle = make_bundle(tmp_path)
    with pytest.raises(EvidencePathError):
        bundle.write_text(relative, "x")
    assert not (tmp_path / "out.txt").exists()


def test_a_secret_written_behind_its_back_fails_the_final_scan(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    bundle.write_text("fine.txt", "nothing secret")
    (bundle.path / "sneaky.txt").write_text(f"leaked {CANARY}")
    with pytest.raises(SecretLeakError) as caught:
        bundle.finalize({})
    message = str(caught.value)
    assert "sneaky.txt: OPENAI_API_KEY (raw)" in message
    assert CANARY not in message


def test_finalize_runs_once(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    bundle.finalize({})
    with pytest.raises(RuntimeError, match="twice"):
        bundle.finalize({})


def test_a_well_known_secret_shape_fails_the_final_scan_too(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)  # knows only CANARY, not this key
    bundle.write_text("logs/service.log", "ok\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    with pytest.raises(SecretLeakError) as caught:
        bundle.finalize({})
    assert "logs/service.log:2: AWS Access Key (pattern)" in str(caught.value)
    assert "AKIAIOSFODNN7EXAMPLE" not in str(caught.value)


@pytest.mark.parametrize("with_logs", [False, True])
def test_the_summary_lists_only_files_the_bundle_has(tmp_path: Path, with_logs: bool) -> None:
    """A base-URL run keeps no service log (the harness did not start the service):
    SUMMARY.md does not point at one."""
    bundle = make_bundle(tmp_path)
    bundle.write_json("cases/a/one.case.json", {"case": "one"})
    if with_logs:
        bundle.write_text("logs/service.log", "started\n")
    bundle.record(
        CaseRecord("one", "a.yaml", "passed", 1.0, status=200, evidence="cases/a/one.case.json")
    )
    bundle.finalize({"versions": {"python": "3.11"}})
    files = (bundle.path / "SUMMARY.md").read_text().split("## Files", 1)[1]
    assert ("logs/service.log" in files) is with_logs
    assert "`cases/<matrix>/<case>.case.json`" in files
    assert "traversal/request-lines.txt" not in files
    assert "workspaces/" not in files
    assert "`manifest.json`" in files

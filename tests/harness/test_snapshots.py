"""`snapshots`: the bundle keeps a bounded view of many workspaces and of long logs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.secrets.redact import Redactor
from pytest_codex.target import workspaces as snapshots


def make_project(
    root: Path, name: str, status: str | None, when: float, version: str | None = None
) -> None:
    workspace = root / name
    (workspace / ".codex").mkdir(parents=True)
    (workspace / "app.py").write_text("print(1)\n")
    if status is not None:
        result = {"status": status, **({"worker_version": version} if version else {})}
        (workspace / ".codex" / "result.json").write_text(json.dumps(result))
    os.utime(workspace, (when, when))


def test_many_projects_are_counted_and_anomalies_kept_in_full(tmp_path: Path) -> None:
    root = tmp_path / "workspaces"
    # Created in reverse order of their names: the first created are kept, not the first named.
    ids = [f"{index:032x}" for index in range(60)]
    for index, project in enumerate(ids):
        make_project(root, project, "success", 9000 - index)
    failed, missing = "f" * 32, "e" * 32
    make_project(root, failed, "failed", 100, version="codex-cli 0.58.0")
    make_project(root, missing, None, 101)
    bundle = EvidenceBundle(tmp_path / "evidence", "mocked", Redactor({}))
    summary = snapshots.snapshot_workspaces(bundle, root, max_full=20)
    kept = {p.stem for p in (bundle.path / "workspaces").glob("*.json")} - {"summary"}
    # The two anomalies were created first, then the last 18 of `ids` (created earliest).
    assert kept == {failed, missing, *ids[-18:]}
    assert (bundle.path / "results" / failed / "result.json").is_file()
    assert summary["projects"] == 62
    assert summary["kept_in_full"] == 20
    assert summary["result_status"] == {"failed": 1, "no result.json": 1, "success": 60}
    assert summary["worker_versions"] == ["codex-cli 0.58.0"]  # the CLI the workers ran
    written = json.loads((bundle.path / snapshots.SUMMARY).read_text())
    assert written["listings"][0]["projects"] == 61  # same files, with or without result


def test_a_long_log_keeps_its_head_and_tail_and_says_so(tmp_path: Path) -> None:
    lines = b"".join(f"line {n}\n".encode() for n in range(100_000))
    kept = snapshots.cap(lines, limit=4096)
    assert kept.startswith(b"line 0\n")
    assert kept.endswith(b"line 99999\n")
    assert b"bytes cut here; the log cap is 4096 bytes" in kept
    assert len(kept) < 4096 + 100
    path = tmp_path / "worker.log"
    path.write_bytes(lines)
    assert snapshots.read_capped(path, limit=4096) == kept
    assert snapshots.cap(b"short", limit=4096) == b"short"

"""Evidence-dir hygiene (issue 18, findings 2 and 3): the run's folder is created new and
never through a symlink; its archive neither; retention removes only this project's
finished runs written before the current one, never the current run, never a folder it
did not write, never through a symlink, and says what it removed."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from pytest_codex.bundle import retention
from pytest_codex.bundle.writer import EvidenceBundle, EvidencePathError
from pytest_codex.secrets.redact import Redactor

STAMP = "20261125T000000Z"


def new_bundle(root: Path, timestamp: str = STAMP) -> EvidenceBundle:
    return EvidenceBundle(root, "mocked", Redactor({}), timestamp=timestamp)


def finished_run(root: Path, stamp: str, *, harness: str = "pytest-codex") -> Path:
    """A run folder as an earlier run left it: `<stamp>/mocked/manifest.json`."""
    folder = root / stamp / "mocked"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"harness": harness, "cases": []}))
    past = time.time() - 3600
    os.utime(folder / "manifest.json", (past, past))
    return folder.parent


def test_symlinks_planted_at_the_next_timestamps_are_passed_over(tmp_path: Path) -> None:
    root, outside = tmp_path / "evidence", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    for name in (STAMP, f"{STAMP}-2", f"{STAMP}-3"):
        (root / name).symlink_to(outside)
    (root / f"{STAMP}-4").write_text("a file, not a folder")
    bundle = new_bundle(root)
    bundle.write_text("cases/a.json", "{}")
    bundle.finalize({})
    assert bundle.path == root / f"{STAMP}-5" / "mocked"
    assert list(outside.iterdir()) == []
    archive = retention.archive(bundle.path)
    assert archive.parent == root / f"{STAMP}-5"
    assert list(outside.iterdir()) == []


def test_a_symlink_planted_inside_the_bundle_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    bundle = new_bundle(tmp_path / "evidence")
    (bundle.path / "cases").mkdir()
    (bundle.path / "cases" / "a.json").symlink_to(outside)
    with pytest.raises(EvidencePathError, match=r"cases/a.json: cannot be written"):
        bundle.write_text("cases/a.json", "overwritten")
    with pytest.raises(EvidencePathError, match=r"cannot be written"):
        bundle.append_text("cases/a.json", "appended")
    assert outside.read_text() == "untouched"


def test_an_archive_name_taken_by_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.tar.gz"
    bundle = new_bundle(tmp_path / "evidence")
    bundle.finalize({})
    bundle.path.with_name("mocked.tar.gz").symlink_to(outside)
    with pytest.raises(OSError, match=r"mocked.tar.gz: cannot be created"):
        retention.archive(bundle.path)
    assert not outside.exists()


def test_a_live_run_and_its_rollback_share_one_timestamp_folder(tmp_path: Path) -> None:
    live = EvidenceBundle(tmp_path, "live", Redactor({}), timestamp=STAMP)
    mocked = EvidenceBundle(tmp_path, "mocked", Redactor({}), timestamp=live.path.parent.name)
    assert mocked.path.parent == live.path.parent


def test_keep_1_never_removes_the_run_just_written_even_with_a_later_folder(
    tmp_path: Path,
) -> None:
    """Clock skew: a finished run named after the current one."""
    root = tmp_path / "evidence"
    later = finished_run(root, "20991231T235959Z")
    bundle = new_bundle(root)
    bundle.finalize({})
    removed = retention.prune(root, 1, bundle.path.parent, bundle.created)
    assert removed == ["20991231T235959Z"]
    assert (bundle.path / "manifest.json").is_file()
    assert not later.exists()


def test_retention_removes_only_this_projects_finished_earlier_runs(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    old = [finished_run(root, f"2020010{day}T000000Z") for day in (1, 2, 3)]
    notes = root / "20200104T000000Z"
    (notes / "mocked").mkdir(parents=True)
    (notes / "mocked" / "notes.txt").write_text("a user's notes: no manifest")
    foreign = finished_run(root, "20200105T000000Z", harness="something-else")
    outside = finished_run(tmp_path / "elsewhere", "20200106T000000Z")
    (root / "20200106T000000Z").symlink_to(outside)
    linked_manifest = root / "20200107T000000Z" / "mocked"
    linked_manifest.mkdir(parents=True)
    (linked_manifest / "manifest.json").symlink_to(outside / "mocked" / "manifest.json")
    bundle = new_bundle(root)
    fresh = finished_run(root, "20200108T000000Z")  # written during this run
    os.utime(fresh / "mocked" / "manifest.json")
    removed = retention.prune(root, 2, bundle.path.parent, bundle.created)
    assert removed == ["20200101T000000Z", "20200102T000000Z"]
    assert [folder.exists() for folder in old] == [False, False, True]
    for kept in (notes, foreign, outside, linked_manifest, fresh, bundle.path):
        assert kept.exists(), kept
    assert (root / "20200106T000000Z").is_symlink()


def test_the_archive_unpacks_as_the_bundle_was(tmp_path: Path) -> None:
    bundle = new_bundle(tmp_path)
    bundle.finalize({})
    with tarfile.open(retention.archive(bundle.path)) as tar:
        assert f"{STAMP}/mocked/manifest.json" in tar.getnames()

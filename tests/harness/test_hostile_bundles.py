"""Hostile bundles against the real `codex-evidence` entry point (issue 18, findings 4
and 7): symlinks out of the bundle, FIFOs, a device, a huge manifest, JSON nested deep, a
result schema whose `$ref` loops. Each command answers with one clear line and a non-zero
exit within seconds, under a 2 GiB address-space limit: no traceback, no hang, nothing
read or printed from outside the bundle."""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_codex.bundle import reader
from tests.harness.test_verify import make_bundle, rehash

COMMAND_TIMEOUT_S = 30  # a command that takes longer hangs (the bound asserted is lower)
MAX_SECONDS = 15.0  # what "within seconds" means here, on a loaded 2-core machine
MEMORY_LIMIT = 2 * 1024**3  # address space each command may have
OUTSIDE_CANARY = "OUTSIDE-CANARY-5c1e"
DEEP = 100_000  # nesting of the deep documents


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def codex_evidence(*args: str) -> tuple[int, str, float]:
    """The real entry point in a child process: (exit code, stdout + stderr, seconds)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_codex.review.cli", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=COMMAND_TIMEOUT_S,
        preexec_fn=_limit_memory,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "good")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "hostile")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside both bundles holding canary JSON files."""
    folder = tmp_path / "outside"
    folder.mkdir()
    for name in ("manifest.json", "case-0.json", "case-1.json"):
        (folder / name).write_text(json.dumps({"canary": OUTSIDE_CANARY, "cases": []}))
    return folder


def _replace(path: Path, make: Callable[[Path], None]) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    make(path)


def manifest_symlink_out(bundle: Path, outside: Path) -> None:
    _replace(bundle / "manifest.json", lambda p: p.symlink_to(outside / "manifest.json"))


def cases_folder_symlink_out(bundle: Path, outside: Path) -> None:
    _replace(bundle / "cases" / "mocked", lambda p: p.symlink_to(outside))


def manifest_fifo(bundle: Path, outside: Path) -> None:
    _replace(bundle / "manifest.json", os.mkfifo)


def case_fifo(bundle: Path, outside: Path) -> None:
    _replace(bundle / "cases/mocked/case-0.json", os.mkfifo)


def manifest_is_dev_zero(bundle: Path, outside: Path) -> None:
    """/dev/zero itself (a character device), not a link to it: made with mknod as root,
    else the link (both are refused before any byte is read)."""
    target = bundle / "manifest.json"
    target.unlink()
    try:
        os.mknod(target, 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    except PermissionError:
        target.symlink_to("/dev/zero")


def manifest_huge(bundle: Path, outside: Path) -> None:
    """200 MB of manifest (sparse: the disk holds nothing), over the reader's 64 MiB."""
    with (bundle / "manifest.json").open("r+b") as handle:
        handle.truncate(200 * 1024 * 1024)


def manifest_deep(bundle: Path, outside: Path) -> None:
    (bundle / "manifest.json").write_text("[" * DEEP + "]" * DEEP)


def case_deep(bundle: Path, outside: Path) -> None:
    (bundle / "cases/mocked/case-0.json").write_text('{"a":' * DEEP + "1" + "}" * DEEP)
    rehash(bundle, "cases/mocked/case-0.json")


HOSTILE = {
    "manifest-symlink-out": manifest_symlink_out,
    "cases-folder-symlink-out": cases_folder_symlink_out,
    "manifest-fifo": manifest_fifo,
    "case-fifo": case_fifo,
    "manifest-dev-zero": manifest_is_dev_zero,
    "manifest-200MB": manifest_huge,
    "manifest-deep": manifest_deep,
    "case-deep": case_deep,
}


def assert_clean_refusal(code: int, output: str, seconds: float) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    assert "RecursionError" not in output, output
    assert OUTSIDE_CANARY not in output, output
    assert seconds < MAX_SECONDS, f"took {seconds:.1f} s"
    assert output.strip(), "no line said what is wrong"


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_verify_refuses_a_hostile_bundle_in_seconds(
    attack: str, hostile: Path, outside: Path
) -> None:
    HOSTILE[attack](hostile, outside)
    code, output, seconds = codex_evidence("verify", str(hostile))
    assert_clean_refusal(code, output, seconds)
    assert code == 1, output  # a verdict, not a usage error
    assert f"codex-evidence: FAILED {hostile}" in output


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_summary_refuses_or_reports_a_hostile_bundle(
    attack: str, hostile: Path, outside: Path
) -> None:
    HOSTILE[attack](hostile, outside)
    code, output, seconds = codex_evidence("summary", "--markdown", str(hostile))
    assert "Traceback" not in output, output
    assert OUTSIDE_CANARY not in output, output
    assert seconds < MAX_SECONDS, f"took {seconds:.1f} s"
    if attack.startswith("manifest"):
        assert_clean_refusal(code, output, seconds)
    else:  # the manifest is fine: the summary is written, the case file is named unread
        assert code == 0, output
        assert "evidence file(s) not read:" in output
        assert "cases/mocked/case-0.json" in output


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_diff_refuses_or_reports_a_hostile_bundle(
    attack: str, good: Path, hostile: Path, outside: Path
) -> None:
    HOSTILE[attack](hostile, outside)
    code, output, seconds = codex_evidence("diff", str(good), str(hostile))
    assert_clean_refusal(code, output, seconds)


def test_a_result_schema_whose_ref_loops_is_one_line(hostile: Path) -> None:
    schema = hostile / "schemas" / "result.schema.json"
    schema.parent.mkdir()
    schema.write_text(json.dumps({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}))
    rehash(hostile, "schemas/result.schema.json")
    code, output, seconds = codex_evidence("verify", str(hostile))
    assert_clean_refusal(code, output, seconds)
    assert "its $refs loop" in output


def test_the_reader_refuses_what_is_not_a_regular_file_inside(
    hostile: Path, outside: Path
) -> None:
    cases_folder_symlink_out(hostile, outside)
    with pytest.raises(reader.BundleReadError, match=r"'mocked' is a symbolic link"):
        reader.read_json(hostile, "cases/mocked/case-0.json")
    os.mkfifo(hostile / "pipe")
    with pytest.raises(reader.BundleReadError, match=r"pipe: a special file"):
        reader.read_bytes(hostile, "pipe", 10)
    with pytest.raises(reader.BundleReadError, match=r"not a plain relative path"):
        reader.read_bytes(hostile, "../outside/manifest.json", 10)
    (hostile / "big").write_bytes(b"x" * 11)
    with pytest.raises(reader.BundleReadError, match=r"big: 11 bytes, over the 10"):
        reader.read_bytes(hostile, "big", 10)
    (hostile / "deep.json").write_text("[" * 65 + "]" * 65)
    with pytest.raises(reader.BundleReadError, match=r"nested deeper than 64"):
        reader.read_json(hostile, "deep.json")
    (hostile / "ok.json").write_text("[" * 64 + "]" * 64)
    assert reader.read_json(hostile, "ok.json") is not None


def test_control_bytes_in_case_names_are_escaped_in_summary_and_diff(
    good: Path, tmp_path: Path
) -> None:
    """Finding 8: `summary --markdown` passed raw ESC and BEL from case names."""
    hostile = make_bundle(tmp_path / "names", ("failed", "passed"))
    manifest = json.loads((hostile / "manifest.json").read_text())
    for case in manifest["cases"]:
        case["name"] = "\x1b]0;owned\x07\x1b[2J" + case["name"] + "\u202e"
        case["message"] = "line\x1b[31m red \x9b"
    (hostile / "manifest.json").write_text(json.dumps(manifest))
    for args in (
        ("summary", "--markdown", str(hostile)),
        ("summary", str(hostile)),
        ("diff", str(good), str(hostile)),
        ("verify", str(hostile)),
    ):
        _, output, seconds = codex_evidence(*args)
        assert "Traceback" not in output, (args, output)
        for char in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert char not in output, (args, char, output)
        assert seconds < MAX_SECONDS
    _, output, _ = codex_evidence("summary", "--markdown", str(hostile))
    assert "\\x1b]0;owned\\x07\\x1b[2Jcase-0\\u202e" in output


def test_a_sparse_file_larger_than_the_hash_bound_is_refused_unhashed(hostile: Path) -> None:
    """A forged manifest entry claiming 5 GiB for a sparse file: refused in seconds."""
    huge = hostile / "logs" / "huge.log"
    with huge.open("wb") as handle:
        handle.truncate(5 * 1024**3)
    manifest = json.loads((hostile / "manifest.json").read_text())
    manifest["files"].append({"path": "logs/huge.log", "sha256": "0" * 64, "size": 5 * 1024**3})
    (hostile / "manifest.json").write_text(json.dumps(manifest))
    code, output, seconds = codex_evidence("verify", str(hostile))
    assert_clean_refusal(code, output, seconds)
    assert f"logs/huge.log: {5 * 1024**3} bytes, over {1024**3}; not hashed" in output
